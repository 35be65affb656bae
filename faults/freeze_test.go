package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
)

// resumedTolerance is how long a leader resumed after SIGCONT may take to
// notice that its lease is gone and report it: the only overlap no lease
// can prevent (see the README), measured in milliseconds here.
const resumedTolerance = 200 * time.Millisecond

// TestFrozenLeader freezes the Go leader with SIGSTOP for longer than the
// lease, lets a follower take over, and resumes it with SIGCONT.
//
//   - between-renewals: frozen right after a renewal. On SIGCONT it stops
//     leading at once, without a renewal attempt first: its proxy receives
//     not one byte from it between SIGCONT and its stopped_leading, and it
//     logs no renewal in between. The resumed instant is within
//     resumedTolerance.
//   - write-in-flight: frozen with a renewal on the wire, held by its proxy.
//     After the takeover the proxy delivers that stale write: the API
//     server answers and the record stays the new leader's, unchanged (the
//     write failed on its resourceVersion). Resumed, it stops at once too.
//
// Either way the lock stays with the new leader, which goes on leading.
func TestFrozenLeader(t *testing.T) {
	t.Parallel()
	for _, inFlight := range []bool{false, true} {
		name := "between-renewals"
		if inFlight {
			name = "write-in-flight"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, !inFlight)
			e.userLock("lock", "")
			const leader = "go-leader"
			c := e.start(pool.Go, leader, "lock", viaProxy())
			e.waitLeader(0, 30*time.Second)
			followers := map[string]pool.Kind{"go-1": pool.Go, "go-2": pool.Go}
			if !inFlight {
				followers["py-1"] = pool.Python
			}
			since := time.Now()
			for id, k := range followers {
				e.start(k, id, "lock")
			}
			for id, k := range followers {
				e.waitFollowing(k, id, since)
			}

			p := e.proxy(leader)
			e.waitLog(leader, time.Now(), 5*time.Second, "a renewal", func(s string) bool { return strings.Contains(s, goRenewedLog) })
			var held time.Time
			if inFlight {
				held = time.Now()
				p.SetMode(netproxy.Hold)
				if _, err := p.WaitChunk(held, 3*time.Second, func(ch netproxy.Chunk) bool { return ch.Up && ch.Fate == "held" }); err != nil {
					t.Fatalf("the leader's next renewal did not reach its proxy: %v", err)
				}
			}
			from := len(e.pool.Events())
			if err := e.pool.Freeze(c); err != nil {
				t.Fatal(err)
			}
			frozen, _ := e.signalled(leader)
			next, _ := e.waitLeader(from, failoverBound+slack)
			t.Logf("%s led %v after %s was frozen", next.Identity, next.Time.Sub(frozen.Time).Round(time.Millisecond), leader)
			if d := time.Until(frozen.Time.Add(leaseDuration + 2*time.Second)); d > 0 {
				e.sleep(d)
			}

			if inFlight {
				before := e.getLock("lock")
				released := time.Now()
				p.SetMode(netproxy.Pass)
				if _, err := p.WaitChunk(released, 5*time.Second, func(ch netproxy.Chunk) bool { return !ch.Up && ch.Fate == "forwarded" }); err != nil {
					t.Fatalf("the API server did not answer the delivered stale write: %v", err)
				}
				up := 0
				for _, ch := range p.Chunks(held) {
					if ch.Up {
						up += ch.Bytes
					}
				}
				after := e.getLock("lock")
				t.Logf("delivered the held write (%d bytes) after the takeover; the record's resourceVersion %s → %s",
					up, before.ResourceVersion, after.ResourceVersion)
				r, err := e.holder("lock")
				if err != nil || r.HolderIdentity != next.Identity {
					t.Errorf("after the stale write was delivered the record is %+v, %v; want held by %s", r, err, next.Identity)
				}
			}

			thawFrom := len(e.pool.Events())
			if err := e.pool.Thaw(c); err != nil {
				t.Fatal(err)
			}
			cont, _ := e.signalled(leader)
			stopped, _ := e.waitStopped(leader, thawFrom, 5*time.Second)
			if stopped.Event != pool.StoppedLeading {
				t.Fatalf("%s: %s (code %d) after SIGCONT, want stopped_leading", leader, stopped.Event, stopped.Code)
			}
			instant := stopped.Time.Sub(cont.Time)
			t.Logf("resumed instant: %s stopped leading %v after SIGCONT (tolerance %v)", leader, instant.Round(time.Microsecond), resumedTolerance)

			// Without a renewal attempt first: nothing reached its proxy
			// between SIGCONT and stopped_leading, and it logged no renewal.
			var sent []netproxy.Chunk
			for _, ch := range p.Chunks(cont.Time) {
				if ch.Up && !ch.At.After(stopped.Time) {
					sent = append(sent, ch)
				}
			}
			if !inFlight && len(sent) > 0 {
				t.Errorf("%s sent %d chunks to the API server between SIGCONT and stopped_leading: %+v", leader, len(sent), sent)
			}
			if inFlight {
				t.Logf("chunks towards the server between SIGCONT and stopped_leading: %+v", sent)
			}
			// (With a write in flight, the failure of that attempt, made
			// before the freeze, is logged after SIGCONT: not a new one.)
			for _, l := range e.logs.Lines(leader, cont.Time.Add(-time.Second)) {
				if at := goLogTime(t, l.Text); !inFlight && !at.Before(cont.Time) && at.Before(stopped.Time) &&
					(strings.Contains(l.Text, goRenewedLog) || strings.Contains(l.Text, goRenewFailed)) {
					t.Errorf("%s logged a renewal after SIGCONT, before it stopped leading: %s", leader, l.Text)
				}
			}
			if inFlight {
				// Its loop reads the lock only after a 409 Conflict (or a
				// NotFound) of its renewal; that read, with the attempt's
				// time up, is what its error names.
				l := e.waitLog(leader, cont.Time.Add(-time.Second), 5*time.Second, "why it stopped", func(s string) bool { return strings.Contains(s, "stopped leading") })
				t.Logf("%s: %s", leader, l.Text)
			}

			// The lock stays with the new leader, which goes on leading.
			e.sleep(leaseDuration)
			if r, err := e.holder("lock"); err != nil || r.HolderIdentity != next.Identity {
				t.Errorf("a lease after the resumed leader stopped the record is %+v, %v; want held by %s", r, err, next.Identity)
			}
			if evs := e.eventsOf(thawFrom, pool.StoppedLeading, func(ev pool.Event) bool { return ev.Identity != leader }); len(evs) > 0 {
				t.Errorf("the new leader stopped: %v", evs)
			}
			terms := e.checkNoOverlap(resumedTolerance)
			resumed := 0
			for _, tm := range terms {
				if tm.Resumed {
					resumed++
				}
			}
			if resumed != 1 {
				t.Errorf("%d resumed terms, want 1\n%s", resumed, pool.Timeline(terms, e.t0))
			}
			e.checkUserContent("lock")
		})
	}
}
