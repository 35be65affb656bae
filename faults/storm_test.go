package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// TestStorm starts 24 Go and 6 Python candidates on an absent lock, each
// behind a proxy that holds its traffic until all of them have tried to
// connect and then lets them through at once: a create storm. They run for
// 20 s: a renew storm, the leader renewing while 29 followers poll every
// RetryPeriod. Exactly one create wins — the API server reports one ADDED
// and no DELETED for the lock, every later version names the same holder —
// and one candidate leads throughout. Then the leader goes away (a Go
// leader releases on SIGTERM; a Python leader, which never releases, is
// killed and the test writes the released record for it) while the next
// poll of every other candidate is held, and the 29 are let through at
// once: an update storm on a free lock. Exactly one new leader, alone;
// judged strictly from every candidate's events; no other candidate exits.
func TestStorm(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	const lock, goN, pyN = "storm", 24, 6
	const run = 20 * time.Second

	w, err := e.cs.CoreV1().ConfigMaps(e.ns).Watch(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	var seen []string // "ADDED holder", ...
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for ev := range w.ResultChan() {
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || cm.Name != lock {
				continue
			}
			r, _ := record.Decode(cm.Annotations[record.AnnotationKey])
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %s", ev.Type, r.HolderIdentity))
			mu.Unlock()
		}
	}()

	kinds := map[string]pool.Kind{}
	var ids []string
	for i := range max(goN, pyN) {
		if i < goN {
			ids = append(ids, fmt.Sprintf("go-%02d", i+1))
			kinds[ids[len(ids)-1]] = pool.Go
		}
		if i < pyN {
			ids = append(ids, fmt.Sprintf("py-%d", i+1))
			kinds[ids[len(ids)-1]] = pool.Python
		}
	}
	// Every candidate goes through a proxy that holds its traffic until
	// all of them have tried to connect: then they all get through at
	// once, read NotFound and create at the same moment.
	// The Python candidates, slow to start, go first: a Go candidate's
	// attempt must not be held longer than RenewDeadline (see
	// TestSlowAcquisition).
	e.holdUp(ids)
	held := 0
	for _, k := range []pool.Kind{pool.Python, pool.Go} {
		var some []string
		for _, id := range ids {
			if kinds[id] == k {
				some = append(some, id)
				e.start(k, id, lock, viaProxy(), withSpec(func(s *pool.Spec) { s.ReleaseOnCancel = k == pool.Go }))
			}
		}
		held += e.waitHeld(some, time.Time{}, time.Second)
	}
	start := time.Now()
	e.pass(ids)
	first, _ := e.waitLeader(0, 30*time.Second)
	t.Logf("%d candidates let through at once (%d others started late); %s led %v later", held, len(ids)-held, first.Identity, first.Time.Sub(start).Round(time.Millisecond))
	e.sleep(time.Until(start.Add(run)))

	led := e.eventsOf(0, pool.StartedLeading, nil)
	if len(led) != 1 {
		t.Errorf("%d started_leading events in %v, want 1: %v", len(led), run, led)
	}
	for _, ev := range e.eventsOf(0, pool.Exited, nil) {
		t.Errorf("%s exited with code %d during the storm", ev.Identity, ev.Code)
	}
	// Who tried to create and lost: the Go candidates log the
	// AlreadyExists at -v 1, the Python client logs its failed create.
	goLost, pyLost := refusedWrites(e, ids, time.Time{}, "already exists", "Failed to create lock")
	mu.Lock()
	events := append([]string(nil), seen...)
	mu.Unlock()
	added, deleted, others := 0, 0, 0
	for _, s := range events {
		switch {
		case strings.HasPrefix(s, string(watch.Added)):
			added++
		case strings.HasPrefix(s, string(watch.Deleted)):
			deleted++
		}
		if !strings.HasSuffix(s, " "+first.Identity) {
			others++
		}
	}
	t.Logf("create storm: %d create won; %d Go and %d Python candidates lost a create race (AlreadyExists); the lock had %d versions, %d held by another than %s",
		added, goLost, pyLost, len(events), others, first.Identity)
	if added != 1 || deleted != 0 || others != 0 {
		t.Errorf("the lock's history: %d ADDED, %d DELETED, %d versions held by someone else than %s; want one create and one holder:\n%s",
			added, deleted, others, first.Identity, strings.Join(events, "\n"))
	}

	// The leader goes away, and the 29 others race for the lock at once:
	// each one's next poll is held until all have polled, and until the
	// lock is free (released at once, or a lease after a kill).
	c, ok := e.pool.Running(first.Identity)
	if !ok {
		t.Fatalf("the leader %s is not running", first.Identity)
	}
	var rest []string
	for _, id := range ids {
		if id != first.Identity {
			rest = append(rest, id)
		}
	}
	holding := time.Now()
	e.holdUp(rest)
	from := len(e.pool.Events())
	if kinds[first.Identity] == pool.Go {
		err = e.pool.Terminate(c)
	} else {
		err = e.pool.Kill(c)
	}
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := e.signalled(first.Identity)
	waitCtx, cancel := contextWithin(e, 10*time.Second)
	defer cancel()
	if _, err := c.Wait(waitCtx); err != nil {
		t.Fatal(err)
	}
	if kinds[first.Identity] == pool.Python {
		// The Python client never releases: write the released record a
		// Go leader writes, as if it had.
		e.writeAnnotation(lock, `{"holderIdentity": "", "leaseDurationSeconds": "4", "acquireTime": "2026-01-01 00:00:00", "renewTime": "2026-01-01 00:00:00"}`)
	}
	racing := e.waitHeld(rest, holding, 1500*time.Millisecond)
	raceFrom := time.Now()
	e.pass(rest)
	bound := retryPeriod + slack
	next, _ := e.waitLeader(from, bound)
	e.sleep(2 * leaseDuration)
	after := e.eventsOf(from, pool.StartedLeading, nil)
	goConflicts, pyConflicts := refusedWrites(e, rest, raceFrom, "the object has been modified", "Failed to update lock")
	t.Logf("%s left (%s); %d others were let through at once: %s led %v later; %d Go and %d Python candidates lost the update race (409); %d started_leading in the next %v",
		first.Identity, gone.Signal, racing, next.Identity, next.Time.Sub(raceFrom).Round(time.Millisecond), goConflicts, pyConflicts, len(after), 2*leaseDuration)
	if len(after) != 1 {
		t.Errorf("%d candidates started leading after the leader left, want 1: %v", len(after), after)
	}
	for _, ev := range e.eventsOf(from, pool.Exited, nil) {
		if ev.Identity != first.Identity {
			t.Errorf("%s exited with code %d", ev.Identity, ev.Code)
		}
	}
	e.checkNoOverlap(0)
	if r, err := e.holder(lock); err != nil || r.HolderIdentity != next.Identity {
		t.Errorf("the record is %+v, %v; want held by %s", r, err, next.Identity)
	}
	w.Stop()
	select {
	case <-watchDone:
	case <-time.After(5 * time.Second):
	}
}

// refusedWrites counts the Go and the Python candidates among ids whose
// write the API server refused since since: a Go candidate logs "lost a
// race" with the server's message (goText) at -v 1, the Python client logs
// pyText.
func refusedWrites(e *env, ids []string, since time.Time, goText, pyText string) (goN, pyN int) {
	for _, id := range ids {
		for _, l := range e.logs.Lines(id, since) {
			if strings.Contains(l.Text, "lost a race") && strings.Contains(l.Text, goText) {
				goN++
				break
			}
			if strings.Contains(l.Text, pyText) {
				pyN++
				break
			}
		}
	}
	return goN, pyN
}

// waitHeld waits until the proxy of each of ids holds a chunk towards the
// server read at or after since, or until within has passed since the first
// of them did, and returns how many do. A Go candidate's attempt must not be
// held much longer than RenewDeadline − RetryPeriod (see
// TestSlowAcquisition), hence the bound.
func (e *env) waitHeld(ids []string, since time.Time, within time.Duration) int {
	e.t.Helper()
	held := func(ch netproxy.Chunk) bool { return ch.Up && ch.Fate == "held" }
	var first time.Time
	n := 0
	for _, id := range ids {
		limit := 30 * time.Second
		if !first.IsZero() {
			limit = max(time.Until(first.Add(within)), time.Millisecond)
		}
		if _, err := e.proxy(id).WaitChunk(since, limit, held); err != nil {
			if first.IsZero() {
				e.t.Fatalf("%s did not reach its proxy: %v", id, err)
			}
			continue
		}
		if first.IsZero() {
			first = time.Now()
		}
		n++
	}
	return n
}

// holdUp makes the proxies of ids hold every chunk towards the server from
// now on (answers still come back), so that each candidate's next request
// waits.
func (e *env) holdUp(ids []string) {
	for _, id := range ids {
		e.proxy(id).HoldUpAfter(0)
	}
}

// pass lets the proxies of ids pass everything, the held chunks first, as
// nearly at once as goroutines allow.
func (e *env) pass(ids []string) {
	var wg sync.WaitGroup
	for _, id := range ids {
		p := e.proxy(id)
		wg.Go(func() { p.SetMode(netproxy.Pass) })
	}
	wg.Wait()
}
