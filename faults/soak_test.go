package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
)

// soakDuration is -soak, else $SOAK_DURATION, else 60 s.
func soakDuration(t *testing.T) time.Duration {
	if *soakFlag > 0 {
		return *soakFlag
	}
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", s, err)
		}
		return d
	}
	return 60 * time.Second
}

// soakSeed is $SOAK_SEED, else the clock.
func soakSeed(t *testing.T) uint64 {
	if s := os.Getenv("SOAK_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// fault is one fault the soak applied.
type fault struct {
	kind       string // kill, terminate, restart-python, freeze, partition, freeze-follower
	target     string
	start, end time.Time
	from       int       // index of the first event after it began
	deadline   time.Time // by when another term must have begun
	next       string    // who led next
	nextAt     time.Time
}

// TestSoak runs a mixed pool — six Go candidates (three releasing on
// SIGTERM), each behind its own proxy, and three Python candidates — for 60
// s (-soak=10m or SOAK_DURATION for longer; SOAK_SEED replays a run, whose
// seed is logged), and meanwhile hits whoever leads, at random: SIGKILL,
// SIGTERM, SIGSTOP for longer than the lease then SIGCONT, or a partition
// (its proxy a black hole for 4 to 7 s); now and then it freezes a
// follower instead. Candidates that exit are restarted after a random
// pause. Python leaders are only killed or terminated, alone or with every
// Python candidate (a rolling restart): the Python client has no request
// timeout (cut off, it leads forever) and renews before judging its
// deadline (resumed, it leads on for up to RenewDeadline), the two faults
// no lease survives (see the README).
//
// The invariants, checked over every candidate's own events: never two
// leaders, except a Go leader resumed after SIGCONT for at most
// resumedTolerance; after each fault another term begins within
// LeaseDuration + 2 × RetryPeriod (+ slack) of the fault, or of its end for
// partitions; and the Go candidates do not grow: VmRSS and threads from
// /proc, and, in soaks long enough for the runtime's two-minute forced
// collections, the live heap after each GC (GODEBUG=gctrace=1).
func TestSoak(t *testing.T) {
	t.Parallel()
	duration, seed := soakDuration(t), soakSeed(t)
	t.Logf("soak for %v with SOAK_SEED=%d", duration, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	e := setup(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), duration+3*time.Minute)
	defer cancel()
	e.ctx = ctx
	e.userLock("lock", "")

	kinds := map[string]pool.Kind{}
	var ids []string
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("go-%d", i)
		ids, kinds[id] = append(ids, id), pool.Go
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("py-%d", i)
		ids, kinds[id] = append(ids, id), pool.Python
	}
	releases := func(id string) bool { return kinds[id] == pool.Go && id <= "go-3" }
	frozen := map[string]bool{}
	var frozenMu sync.Mutex
	startOne := func(id string) {
		opts := []opt{withSpec(func(s *pool.Spec) { s.ReleaseOnCancel = releases(id) })}
		if kinds[id] == pool.Go {
			// The runtime reports the live heap after each GC on stderr.
			opts = append(opts, viaProxy(), withSpec(func(s *pool.Spec) { s.Env = []string{"GODEBUG=gctrace=1"} }))
		}
		e.start(kinds[id], id, "lock", opts...)
	}
	restartExited := func() {
		for _, id := range ids {
			frozenMu.Lock()
			fz := frozen[id]
			frozenMu.Unlock()
			if _, running := e.pool.Running(id); !running && !fz {
				startOne(id)
			}
		}
	}
	for _, id := range ids {
		startOne(id)
	}

	// Sample the Go candidates' memory and threads.
	samples := newProcSamples()
	sampling, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			for _, id := range ids {
				if c, ok := e.pool.Running(id); ok && kinds[id] == pool.Go {
					samples.take(id, c.PID())
				}
			}
			select {
			case <-sampling.Done():
				return
			case <-time.After(time.Second):
			}
		}
	})

	if _, _, err := e.pool.WaitFor(ctx, 0, func(ev pool.Event) bool { return ev.Event == pool.StartedLeading }); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(duration)
	var faults []*fault
	for time.Now().Before(end) {
		// Wait for one leader, let it lead a little, then hit it.
		leader := ""
		for leader == "" {
			// Two "leaders" here is a leader resumed after SIGCONT whose
			// stopped_leading is on its way; the checker at the end judges.
			if now := leadersNow(e); len(now) == 1 {
				leader = now[0]
			} else {
				e.sleep(100 * time.Millisecond)
			}
		}
		e.sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		if now := leadersNow(e); len(now) != 1 || now[0] != leader {
			continue // leadership moved on its own; look again
		}
		c, ok := e.pool.Running(leader)
		if !ok {
			continue
		}
		var choices []string
		if kinds[leader] == pool.Go {
			choices = []string{"kill", "terminate", "freeze", "partition", "kill", "terminate", "freeze", "partition", "freeze-follower"}
		} else {
			// Python followers poll in step with a Python leader's
			// renewals, so one of them nearly always succeeds it; a
			// rolling restart of them all lets the Go candidates lead
			// again.
			choices = []string{"kill", "terminate", "restart-python", "restart-python"}
		}
		f := &fault{kind: choices[rng.IntN(len(choices))], target: leader, from: len(e.pool.Events()), start: time.Now()}
		bound := failoverBound + slack
		switch f.kind {
		case "kill":
			check(t, e.pool.Kill(c))
			f.end = time.Now()
			e.sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
		case "terminate":
			check(t, e.pool.Terminate(c))
			f.end = time.Now()
			if releases(leader) {
				bound = retryPeriod + slack
			}
			e.sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
		case "restart-python":
			for _, id := range ids {
				if pc, ok := e.pool.Running(id); ok && kinds[id] == pool.Python {
					check(t, e.pool.Terminate(pc))
				}
			}
			f.end = time.Now()
			e.sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case "freeze":
			frozenMu.Lock()
			frozen[leader] = true
			frozenMu.Unlock()
			check(t, e.pool.Freeze(c))
			e.sleep(leaseDuration + time.Duration(rng.IntN(2000))*time.Millisecond)
			check(t, e.pool.Thaw(c))
			f.end = time.Now()
			frozenMu.Lock()
			delete(frozen, leader)
			frozenMu.Unlock()
		case "partition":
			p := e.proxy(leader)
			p.SetMode(netproxy.Blackhole)
			e.sleep(time.Duration(4000+rng.IntN(3000)) * time.Millisecond)
			p.SetMode(netproxy.Pass)
			f.end = time.Now()
		case "freeze-follower":
			var followers []string
			for _, id := range ids {
				if _, ok := e.pool.Running(id); ok && id != leader && kinds[id] == pool.Go {
					followers = append(followers, id)
				}
			}
			if len(followers) == 0 {
				continue
			}
			f.target = followers[rng.IntN(len(followers))]
			fc, _ := e.pool.Running(f.target)
			frozenMu.Lock()
			frozen[f.target] = true
			frozenMu.Unlock()
			check(t, e.pool.Freeze(fc))
			e.sleep(time.Duration(2000+rng.IntN(4000)) * time.Millisecond)
			check(t, e.pool.Thaw(fc))
			f.end = time.Now()
			frozenMu.Lock()
			delete(frozen, f.target)
			frozenMu.Unlock()
		}
		faults = append(faults, f)
		if f.kind == "freeze-follower" {
			continue
		}
		anchor := f.start
		if f.kind == "partition" {
			anchor = f.end
		}
		f.deadline = anchor.Add(bound)
		wctx, wcancel := context.WithDeadline(ctx, f.deadline)
		ev, _, err := e.pool.WaitFor(wctx, f.from, func(ev pool.Event) bool { return ev.Event == pool.StartedLeading })
		wcancel()
		if err != nil {
			t.Errorf("%s of %s at %v: no new leader by %v", f.kind, f.target, f.start.Sub(e.t0).Round(time.Millisecond), f.deadline.Sub(e.t0).Round(time.Millisecond))
		} else {
			f.next, f.nextAt = ev.Identity, ev.Time
		}
		restartExited()
	}
	// Let the last fault settle, then judge.
	e.sleep(retryPeriod)
	restartExited()
	e.sleep(failoverBound)
	stopSampling()
	sampler.Wait()
	if now := leadersNow(e); len(now) != 1 {
		t.Errorf("at the end the leaders are %v, want one", now)
	}

	var report []string
	counts := map[string]int{}
	for _, f := range faults {
		counts[f.kind]++
		line := fmt.Sprintf("%7.3fs %-15s %-5s", f.start.Sub(e.t0).Seconds(), f.kind, f.target)
		if f.next != "" {
			line += fmt.Sprintf(" → %s led %v after the fault began", f.next, f.nextAt.Sub(f.start).Round(time.Millisecond))
			if f.kind == "partition" {
				line += fmt.Sprintf(" (%v before the heal)", f.end.Sub(f.nextAt).Round(time.Millisecond))
			}
		}
		report = append(report, line)
	}
	t.Logf("seed %d: %d faults %v:\n%s", seed, len(faults), counts, strings.Join(report, "\n"))

	terms := e.checkNoOverlap(resumedTolerance)
	var maxResumed time.Duration
	for _, tm := range terms {
		if tm.Resumed && !tm.End.IsZero() {
			maxResumed = max(maxResumed, tm.End.Sub(tm.Start))
		}
	}
	t.Logf("%d terms; longest resumed instant after SIGCONT: %v", len(terms), maxResumed)
	for _, ev := range e.pool.Events() {
		if ev.Event == pool.Exited && ev.Code != 0 && ev.Code != 1 && ev.Code != 128+9 {
			t.Errorf("%s exited with code %d", ev.Identity, ev.Code)
		}
	}
	t.Logf("Go candidates' memory:\n%s%s", samples.check(t, 20*time.Second), checkLiveHeap(t, e, ids))
	if os.Getenv("SOAK_DUMP") != "" {
		t.Logf("events:\n%s\nlogs:\n%s", pool.EventDump(e.pool.Events(), e.t0), e.logs.Dump(e.t0))
	}
	e.checkUserContent("lock")
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// procSamples keeps VmRSS and thread counts of processes by pid.
type procSamples struct {
	mu  sync.Mutex
	ids map[int]string
	s   map[int][]procSample
}

type procSample struct {
	at      time.Time
	rssKB   int
	threads int
}

func newProcSamples() *procSamples {
	return &procSamples{ids: map[int]string{}, s: map[int][]procSample{}}
}

func (p *procSamples) take(id string, pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	var s procSample
	s.at = time.Now()
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKB, _ = strconv.Atoi(f[1])
		case "Threads:":
			s.threads, _ = strconv.Atoi(f[1])
		case "State:":
			if f[1] == "T" || f[1] == "Z" { // stopped or gone: not meaningful
				return
			}
		}
	}
	p.mu.Lock()
	p.ids[pid] = id
	p.s[pid] = append(p.s[pid], s)
	p.mu.Unlock()
}

// check fails t if a process that was sampled for at least minLife grew:
// from its first sample after 5 s of life to its last, VmRSS by more than
// 8 MiB or threads by more than 4. It returns a summary.
func (p *procSamples) check(t *testing.T, minLife time.Duration) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for pid, ss := range p.s {
		if len(ss) < 2 || ss[len(ss)-1].at.Sub(ss[0].at) < minLife {
			continue
		}
		first := ss[0]
		for _, s := range ss {
			if s.at.Sub(ss[0].at) >= 5*time.Second {
				first = s
				break
			}
		}
		last := ss[len(ss)-1]
		fmt.Fprintf(&b, "%s (pid %d) over %v: VmRSS %d → %d KiB, threads %d → %d\n", p.ids[pid], pid,
			last.at.Sub(first.at).Round(time.Second), first.rssKB, last.rssKB, first.threads, last.threads)
		if last.rssKB-first.rssKB > 8*1024 || last.threads-first.threads > 4 {
			t.Errorf("%s (pid %d) grew: VmRSS %d → %d KiB, threads %d → %d", p.ids[pid], pid, first.rssKB, last.rssKB, first.threads, last.threads)
		}
	}
	return b.String()
}

// checkLiveHeap reads the Go candidates' gctrace lines ("gc 7 @130.2s 0%:
// ..., 3->3->1 MB, ...") and fails t if, in one process, the heap live
// after a collection grew by more than 2 MB between its first collection
// and a collection at least a minute later. It returns a summary.
func checkLiveHeap(t *testing.T, e *env, ids []string) string {
	t.Helper()
	type gc struct {
		at   float64 // seconds since the process started
		live int     // MB
	}
	var b strings.Builder
	for _, id := range ids {
		var runs [][]gc // one per process: "gc 1" starts a new one
		for _, l := range e.logs.Lines(id, time.Time{}) {
			var n int
			var at float64
			if _, err := fmt.Sscanf(l.Text, "gc %d @%fs", &n, &at); err != nil {
				continue
			}
			i := strings.Index(l.Text, " MB,")
			j := strings.LastIndex(l.Text[:max(i, 0)], "->")
			if i < 0 || j < 0 {
				continue
			}
			live, err := strconv.Atoi(l.Text[j+2 : i])
			if err != nil {
				continue
			}
			if n == 1 || len(runs) == 0 {
				runs = append(runs, nil)
			}
			runs[len(runs)-1] = append(runs[len(runs)-1], gc{at, live})
		}
		for _, r := range runs {
			if len(r) < 2 || r[len(r)-1].at-r[0].at < 60 {
				continue
			}
			first, last := r[0], r[len(r)-1]
			fmt.Fprintf(&b, "%s: live heap %d MB after GC at %.0fs, %d MB at %.0fs (%d collections)\n", id, first.live, first.at, last.live, last.at, len(r))
			if last.live-first.live > 2 {
				t.Errorf("%s: the live heap grew from %d MB (at %.0fs) to %d MB (at %.0fs)", id, first.live, first.at, last.live, last.at)
			}
		}
	}
	return b.String()
}
