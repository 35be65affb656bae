package faults

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
)

// TestPartitionedLeader cuts the Go leader of a mixed pool (two Go and one
// Python follower) off the API server at a random point of its renewal
// cycle: its proxy turns into a black hole that accepts connections and
// drops every byte. The leader stops leading within RenewDeadline of the
// cut (plus slack), the others take over once the lease has passed, and the
// new leader starts only after the old one stopped (strict). After the
// heal the old leader, restarted, follows. The user's content survives.
func TestPartitionedLeader(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	e.userLock("lock", "")
	const leader = "go-leader"
	e.start(pool.Go, leader, "lock", viaProxy())
	e.waitLeader(0, 30*time.Second)
	followers := map[string]pool.Kind{"go-1": pool.Go, "go-2": pool.Go, "py-1": pool.Python}
	since := time.Now()
	for id, k := range followers {
		e.start(k, id, "lock", viaProxy())
	}
	for id, k := range followers {
		e.waitFollowing(k, id, since)
	}

	e.waitLog(leader, time.Now(), 5*time.Second, "a renewal", func(s string) bool { return strings.Contains(s, goRenewedLog) })
	e.sleep(rand.N(retryPeriod))
	from := len(e.pool.Events())
	cut := time.Now()
	e.proxy(leader).SetMode(netproxy.Blackhole)

	stopped, _ := e.waitStopped(leader, from, renewDeadline+slack)
	if stopped.Event != pool.StoppedLeading {
		t.Errorf("%s: %s (code %d) after the cut, want stopped_leading", leader, stopped.Event, stopped.Code)
	}
	lastRenewal := lastLog(e, leader, goRenewedLog)
	next, _ := e.waitLeader(from, failoverBound+slack)
	t.Logf("cut off %v after its last renewal, %s stopped leading %v after the cut (%v after that renewal); %s led %v after the cut",
		cut.Sub(lastRenewal).Round(time.Millisecond), leader, stopped.Time.Sub(cut).Round(time.Millisecond),
		stopped.Time.Sub(lastRenewal).Round(time.Millisecond), next.Identity, next.Time.Sub(cut).Round(time.Millisecond))
	if d := stopped.Time.Sub(cut); d > renewDeadline+time.Second {
		t.Errorf("%s stopped leading %v after the cut, want within RenewDeadline %v (+1s)", leader, d, renewDeadline)
	}
	checkStoppedInTime(t, leader, lastRenewal, stopped.Time)
	if !next.Time.After(stopped.Time) {
		t.Errorf("%s started at %v, before the cut-off leader stopped at %v", next.Identity, next.Time.Sub(e.t0), stopped.Time.Sub(e.t0))
	}
	if st := e.proxy(leader).Stats(); st.Up.DroppedBytes == 0 {
		t.Errorf("the cut-off leader sent nothing into the black hole: %+v", st)
	}
	// It exits 1 (leadership lost), as the candidate's contract says.
	ctxW, cancel := contextWithin(e, 10*time.Second)
	defer cancel()
	if c, ok := e.pool.Running(leader); ok {
		if code, err := c.Wait(ctxW); err != nil || code != 1 {
			t.Errorf("%s exited with %d, %v; want 1", leader, code, err)
		}
	}

	// Heal, and run it again: it follows.
	e.proxy(leader).SetMode(netproxy.Pass)
	healed := time.Now()
	e.start(pool.Go, leader, "lock", viaProxy())
	e.waitFollowing(pool.Go, leader, healed)
	e.sleep(leaseDuration)
	terms := e.checkNoOverlap(0)
	if len(terms) != 2 {
		t.Errorf("%d terms, want 2: the cut-off leader's and its successor's\n%s", len(terms), pool.Timeline(terms, e.t0))
	}
	e.checkUserContent("lock")
}

// TestSlowLeader slows the Go leader's link. With 100 ms added to each chunk
// (a renewal takes some 400 ms) it keeps leading for three leases. With 1 s
// added (a renewal cannot finish within RenewDeadline) it stops leading
// within RenewDeadline of its last renewal and another candidate takes over,
// never while it still leads. A write slowed past the deadline can still
// land afterwards: it only renews a lease nobody holds, which delays the
// takeover by up to a lease.
func TestSlowLeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		latency   time.Duration
		keepsLead bool
	}{
		{"100ms-keeps-leading", 100 * time.Millisecond, true},
		{"1s-steps-down", time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, false)
			e.userLock("lock", "")
			const leader = "go-leader"
			e.start(pool.Go, leader, "lock", viaProxy())
			e.waitLeader(0, 30*time.Second)
			since := time.Now()
			e.start(pool.Go, "go-1", "lock", viaProxy())
			e.start(pool.Go, "go-2", "lock", viaProxy())
			e.waitFollowing(pool.Go, "go-1", since)
			e.waitFollowing(pool.Go, "go-2", since)

			from := len(e.pool.Events())
			slowed := time.Now()
			p := e.proxy(leader)
			p.SetLatency(tc.latency)
			p.SetMode(netproxy.Slow)

			if tc.keepsLead {
				e.sleep(3 * leaseDuration)
				if evs := e.pool.Events()[from:]; len(e.eventsOf(from, pool.StartedLeading, nil)) > 0 ||
					len(e.eventsOf(from, pool.StoppedLeading, nil)) > 0 {
					t.Errorf("leadership changed on a link slowed by %v: %v", tc.latency, evs)
				}
				n := e.logs.Count(leader, slowed, pool.Contains(goRenewedLog))
				t.Logf("slowed by %v per chunk: %d renewals in %v", tc.latency, n, 3*leaseDuration)
				if n < 4 {
					t.Errorf("%d renewals in %v on the slow link, want at least 4", n, 3*leaseDuration)
				}
			} else {
				stopped, _ := e.waitStopped(leader, from, renewDeadline+slack)
				last := lastLog(e, leader, goRenewedLog)
				checkStoppedInTime(t, leader, last, stopped.Time)
				next, _ := e.waitLeader(from, renewDeadline+leaseDuration+failoverBound+slack)
				t.Logf("slowed by %v per chunk: %s stopped %v after the slow-down (%v after its last renewal); %s led %v after the slow-down",
					tc.latency, leader, stopped.Time.Sub(slowed).Round(time.Millisecond), stopped.Time.Sub(last).Round(time.Millisecond),
					next.Identity, next.Time.Sub(slowed).Round(time.Millisecond))
			}
			e.checkNoOverlap(0)
			e.checkUserContent("lock")
		})
	}
}
