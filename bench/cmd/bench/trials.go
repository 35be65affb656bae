package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// timing is an election's LeaseDuration / RenewDeadline / RetryPeriod.
type timing struct {
	Lease, Renew, Retry time.Duration
}

func (t timing) String() string {
	return fmt.Sprintf("%v/%v/%v", t.Lease, t.Renew, t.Retry)
}

var (
	fastTiming    = timing{4 * time.Second, 3 * time.Second, time.Second}
	defaultTiming = timing{15 * time.Second, 10 * time.Second, 2 * time.Second}
)

// trialSet is the outcome of the failover and handover trials of one
// contender at one timing.
type trialSet struct {
	Timing timing
	// Failover: SIGKILL of the leader to the next started_leading.
	Failover []time.Duration
	// PastExpiry: the next started_leading minus the lease's expiry, the
	// leader's last renewTime in the lock plus LeaseDuration.
	PastExpiry []time.Duration
	// ExpiryFallbacks counts failovers whose expiry had to be taken as kill
	// time + LeaseDuration because the lock could not be read.
	ExpiryFallbacks int
	// Handover: SIGTERM of the leader to the next started_leading.
	Handover []time.Duration
	// Overlap is CheckNoOverlap's verdict on the whole run: "" if no two
	// candidates ever led at once.
	Overlap string
}

// pythonStartTimeout bounds the start of a Python candidate, which prints
// nothing until it leads: the benchmark waits for its first connection to
// the API server instead.
const pythonStartTimeout = 30 * time.Second

// runTrials runs a pool of three candidates of one contender and alternates
// crash (SIGKILL) and graceful (SIGTERM) stops of the leader, replacing each
// stopped candidate with a new one.
func (b *bench) runTrials(ctx context.Context, c contender, t timing, nFail, nHand int) (*trialSet, error) {
	ts := &trialSet{Timing: t}
	ns, err := b.namespace(ctx, c.Key)
	if err != nil {
		return ts, err
	}
	const lockName = "bench-lock"
	p := b.pool(c)
	defer p.Close()
	seq := 0
	start := func() (string, int, error) {
		seq++
		id := fmt.Sprintf("%s-%d", c.Key, seq)
		from := len(p.Events())
		_, err := p.Start(b.spec(c, id, ns, lockName, t))
		return id, from, err
	}
	var news []started
	for range 3 {
		id, from, err := start()
		if err != nil {
			return ts, err
		}
		news = append(news, started{id, from})
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second+2*t.Lease)
	first, _, err := p.WaitForLeader(wctx, 0)
	cancel()
	if err != nil {
		return ts, fmt.Errorf("%s: no leader: %w", c.Label, err)
	}
	leader := first.Identity
	if err := b.waitReady(ctx, p, c, seenRenewal(t), news...); err != nil {
		return ts, err
	}

	for nFail > 0 || nHand > 0 {
		crash := nFail > 0 && (nHand == 0 || nFail >= nHand)
		// Stop the leader at a random phase of its renewals.
		if !sleep(ctx, time.Duration(rand.Int64N(int64(t.Retry)))) {
			return ts, ctx.Err()
		}
		cand, ok := p.Running(leader)
		if !ok {
			return ts, fmt.Errorf("%s: leader %s is not running", c.Label, leader)
		}
		from := len(p.Events())
		if crash {
			err = p.Kill(cand)
		} else {
			err = p.Terminate(cand)
		}
		if err != nil {
			return ts, err
		}
		sig, _, err := p.WaitFor(ctx, from, func(ev pool.Event) bool { return ev.Event == pool.Signalled && ev.Identity == leader })
		if err != nil {
			return ts, err
		}
		var expiry time.Time
		if crash {
			// The lock keeps the dead leader's last renewal. A write in
			// flight at the kill lands within a second; no follower can
			// lead before LeaseDuration minus one RetryPeriod.
			if !sleep(ctx, min(time.Second, t.Lease-t.Retry)) {
				return ts, ctx.Err()
			}
			holder, renewed, err := b.lastRenewal(ctx, c, ns, lockName)
			if err == nil && holder == leader && !renewed.IsZero() {
				expiry = renewed.Add(t.Lease)
			} else {
				ts.ExpiryFallbacks++
				expiry = sig.Time.Add(t.Lease)
				b.logf("%s: expiry from kill time (lock read: holder %q, err %v)", c.Label, holder, err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 2*t.Lease+t.Renew+20*time.Second)
		next, _, err := p.WaitFor(wctx, from, func(ev pool.Event) bool {
			return ev.Event == pool.StartedLeading && ev.Identity != leader
		})
		cancel()
		if err != nil {
			return ts, fmt.Errorf("%s: no new leader after stopping %s: %w", c.Label, leader, err)
		}
		took := next.Time.Sub(sig.Time)
		if crash {
			ts.Failover = append(ts.Failover, took)
			ts.PastExpiry = append(ts.PastExpiry, next.Time.Sub(expiry))
			nFail--
			b.logf("%s %v: failover %v (%+v after expiry)", c.Label, t, took.Round(time.Millisecond), next.Time.Sub(expiry).Round(time.Millisecond))
		} else {
			ts.Handover = append(ts.Handover, took)
			nHand--
			b.logf("%s %v: handover %v", c.Label, t, took.Round(time.Millisecond))
		}
		wctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		_, err = cand.Wait(wctx)
		cancel()
		if err != nil {
			_ = p.Kill(cand)
		}
		leader = next.Identity
		if nFail == 0 && nHand == 0 {
			break
		}
		id, from, err := start()
		if err != nil {
			return ts, err
		}
		if err := b.waitReady(ctx, p, c, seenRenewal(t), started{id, from}); err != nil {
			return ts, err
		}
	}
	if err := pool.CheckNoOverlap(pool.Terms(p.Events()), 0); err != nil {
		ts.Overlap = err.Error()
	}
	return ts, nil
}

// started is a candidate just started, with the index of the pool's events
// at its start.
type started struct {
	id   string
	from int
}

// waitReady waits until new candidates have read the lock, then settle. A
// Go candidate reports the leader it first sees (new_leader); a Python one
// prints nothing, so the wait is for its first connection to the API
// server, when it makes its first request.
func (b *bench) waitReady(ctx context.Context, p *pool.Pool, c contender, settle time.Duration, news ...started) error {
	wctx, cancel := context.WithTimeout(ctx, pythonStartTimeout)
	defer cancel()
	for _, s := range news {
		cand, running := p.Running(s.id)
		if !running {
			return fmt.Errorf("%s: %s exited at start", c.Label, s.id)
		}
		if c.Kind == pool.Python {
			if err := waitConnected(wctx, cand.PID()); err != nil {
				return fmt.Errorf("%s: %s: %w", c.Label, s.id, err)
			}
			continue
		}
		_, _, err := p.WaitFor(wctx, s.from, func(ev pool.Event) bool {
			return ev.Identity == s.id && (ev.Event == pool.NewLeader || ev.Event == pool.StartedLeading || ev.Event == pool.Exited)
		})
		if err != nil {
			return fmt.Errorf("%s: %s did not report a leader: %w", c.Label, s.id, err)
		}
		if _, running := p.Running(s.id); !running {
			return fmt.Errorf("%s: %s exited at start", c.Label, s.id)
		}
	}
	if !sleep(ctx, settle) {
		return ctx.Err()
	}
	return nil
}

// seenRenewal is how long after its first read a follower has surely seen
// a renewal of the leader: one RetryPeriod with jitter.
func seenRenewal(t timing) time.Duration { return t.Retry + t.Retry/5 }

// waitConnected waits until the process has a TCP connection open, which
// for a candidate means it has started talking to the API server.
func waitConnected(ctx context.Context, pid int) error {
	for {
		if n, err := tcpSockets(pid); err == nil && n > 0 {
			return nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("no connection to the API server: %w", ctx.Err())
		}
	}
}

// lastRenewal reads the holder and renewTime stored in the lock.
func (b *bench) lastRenewal(ctx context.Context, c contender, ns, name string) (string, time.Time, error) {
	if c.Lease {
		l, err := b.cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", time.Time{}, err
		}
		if l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil {
			return "", time.Time{}, errors.New("lease has no holder or renewTime")
		}
		return *l.Spec.HolderIdentity, l.Spec.RenewTime.Time, nil
	}
	cm, err := b.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	rec, err := record.Decode(cm.Annotations[record.AnnotationKey])
	if err != nil {
		return "", time.Time{}, err
	}
	return rec.HolderIdentity, rec.RenewTime, nil
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
