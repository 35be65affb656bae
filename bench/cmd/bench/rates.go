package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
)

// rateWindow is one steady window of a pool.
type rateWindow struct {
	Pool   int
	Window window
	// Procs holds each candidate's RSS at the end of the window and its
	// CPU time over it; only for the largest pool.
	Procs []procStat
}

type procStat struct {
	Identity string
	Leader   bool
	RSS      int64
	RSSAnon  int64
	CPU      float64 // share of one core over the window
}

// rateSet is one contender's request rates at the default timing.
type rateSet struct {
	Windows []rateWindow
}

func (r *rateSet) window(n int) (rateWindow, bool) {
	for _, w := range r.Windows {
		if w.Pool == n {
			return w, true
		}
	}
	return rateWindow{}, false
}

// measureBaseline counts the lock requests with no candidate running: the
// API server's own lease renewals and controllers. It is subtracted from
// every pool's count.
func (b *bench) measureBaseline(ctx context.Context) (window, error) {
	before, err := scrapeRequests(ctx, b.cs)
	if err != nil {
		return window{}, err
	}
	if !sleep(ctx, b.plan.RateWindow) {
		return window{}, ctx.Err()
	}
	after, err := scrapeRequests(ctx, b.cs)
	if err != nil {
		return window{}, err
	}
	w := diff(before, after)
	b.logf("baseline: %.1f req/min (%s)", w.perMinute(), w.verbs())
	return w, nil
}

// runRates grows one contender's pool through the sizes of the plan, at the
// default timing, and counts the lock requests of a steady window at each.
func (b *bench) runRates(ctx context.Context, c contender) (*rateSet, error) {
	rs := &rateSet{}
	t := defaultTiming
	ns, err := b.namespace(ctx, c.Key+"-rate")
	if err != nil {
		return rs, err
	}
	const lockName = "bench-lock"
	p := b.pool(c)
	defer p.Close()
	var ids []string
	largest := slices.Max(b.plan.RatePools)
	for _, n := range b.plan.RatePools {
		var news []started
		for len(ids) < n {
			id := fmt.Sprintf("%s-r%d", c.Key, len(ids)+1)
			from := len(p.Events())
			if _, err := p.Start(b.spec(c, id, ns, lockName, t)); err != nil {
				return rs, err
			}
			ids = append(ids, id)
			news = append(news, started{id, from})
		}
		if len(ids) == len(news) { // the first pool: wait for its leader
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second+t.Lease)
			_, _, err := p.WaitForLeader(wctx, 0)
			cancel()
			if err != nil {
				return rs, fmt.Errorf("%s: no leader: %w", c.Label, err)
			}
		}
		// The start-up requests (a watcher's LIST, the first read) are
		// over once a candidate has read the lock; the window starts
		// a moment later.
		if err := b.waitReady(ctx, p, c, 500*time.Millisecond, news...); err != nil {
			return rs, err
		}
		leader := currentLeader(p.Events())
		var pids []int
		if n == largest {
			for _, id := range ids {
				cand, ok := p.Running(id)
				if !ok {
					return rs, fmt.Errorf("%s: %s is not running", c.Label, id)
				}
				pids = append(pids, cand.PID())
			}
		}
		before, err := scrapeRequests(ctx, b.cs)
		if err != nil {
			return rs, err
		}
		cpu := newCPUMeter(pids...)
		if !sleep(ctx, b.plan.RateWindow) {
			return rs, ctx.Err()
		}
		after, err := scrapeRequests(ctx, b.cs)
		if err != nil {
			return rs, err
		}
		rw := rateWindow{Pool: n, Window: diff(before, after)}
		used := cpu.seconds()
		for i, pid := range pids {
			s, err := readProc(pid)
			if err != nil {
				return rs, fmt.Errorf("%s: reading /proc of %s: %w", c.Label, ids[i], err)
			}
			rw.Procs = append(rw.Procs, procStat{
				Identity: ids[i], Leader: ids[i] == leader, RSS: s.RSS, RSSAnon: s.RSSAnon,
				CPU: used[i] / rw.Window.Elapsed.Seconds(),
			})
		}
		if l2 := currentLeader(p.Events()); l2 != leader {
			b.problem("%s: the leader changed during the steady window of the pool of %d (%s -> %s)", c.Label, n, leader, l2)
		}
		rs.Windows = append(rs.Windows, rw)
		b.logf("%s pool of %d: %.1f req/min raw (%s)", c.Label, n, rw.Window.perMinute(), rw.Window.verbs())
	}
	if err := pool.CheckNoOverlap(pool.Terms(p.Events()), 0); err != nil {
		b.problem("%s: %v", c.Label, err)
	}
	return rs, nil
}

// currentLeader is the identity of the last started_leading that has not
// ended.
func currentLeader(events []pool.Event) string {
	leader := ""
	for _, ev := range events {
		switch {
		case ev.Event == pool.StartedLeading:
			leader = ev.Identity
		case ev.Identity == leader && (ev.Event == pool.StoppedLeading || ev.Event == pool.Exited ||
			ev.Event == pool.Signalled && ev.Signal == "killed"):
			leader = ""
		}
	}
	return leader
}
