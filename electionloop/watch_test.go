package electionloop

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubepy/leaderelection/config"
)

// A watching follower (its lock implements config.Watching with a non-nil
// Changes channel) does not poll: it sleeps until the lease it observed
// runs out, observedTime + max(its LeaseDuration, the record's), or until a
// change arrives, whichever is first. After an API error it ignores changes
// and backs off as a polling follower does.

// pyAt is a record as a Python candidate writes it, renewed at t0+at.
func pyAt(holder, lease string, at time.Duration) string {
	return pyRecord(holder, lease, "2030-01-15 12:00:00", t0.Add(at).Format("2006-01-02 15:04:05.000000"))
}

var forbidden = apierrors.NewForbidden(cmGR, testName, errors.New(`User "system:serviceaccount:default:app" cannot update resource "configmaps"`))

// With a scripted watching lock every read is visible and the test pokes
// the change channel itself: the follower reads only at start, at each poke
// and when the lease it observed ends.
func TestWatchingFollowerScripted(t *testing.T) {
	t.Run("sleeps until the observed lease ends", func(t *testing.T) {
		// The record's lease, 7.5s, is longer than B's 5s: B takes over
		// at exactly 7.5s, between two RetryPeriod ticks.
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "7.5", 0), true)
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(sec(7.5) - quantum)
		if b.e.IsLeader() || b.e.GetLeader() != "P" {
			t.Errorf("at %v: IsLeader() = %v, GetLeader() = %q; want false, P", s.at(), b.e.IsLeader(), b.e.GetLeader())
		}
		s.advanceTo(sec(8.5))
		assertEvents(t, "lock calls", l.history(), []string{
			"0s get",
			"7.5s get", "7.5s update(B)", "7.5s update(B)",
			"8.5s update(B)",
		})
		assertEvents(t, "leadership", b.lifeEvents(), []string{"7.5s started"})
	})

	t.Run("without Changes it polls", func(t *testing.T) {
		// The same lock with a nil Changes channel: the loop polls every
		// RetryPeriod and takes over at the first tick from 7.5s on.
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "7.5", 0), false)
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(9 * time.Second)
		assertEvents(t, "lock calls", l.history(), cat(
			seq(0, 7*time.Second, time.Second, "get"),
			[]string{"8s get", "8s update(B)", "8s update(B)", "9s update(B)"},
		))
	})

	t.Run("a corrupt value holds for our lease, not the last record's", func(t *testing.T) {
		// The last valid record had a 7.5s lease; garbage written at 1s
		// is judged by B's own 5s, so B takes over at exactly 6s.
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "7.5", 0), true)
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(time.Second)
		l.writeAndWaitRead("not json")
		s.advanceTo(6*time.Second - quantum)
		if b.e.IsLeader() {
			t.Errorf("at %v: leads before the corrupt value stayed unchanged for a lease", s.at())
		}
		s.advanceTo(6 * time.Second)
		assertEvents(t, "leadership", b.lifeEvents(), []string{"6s started"})
	})

	t.Run("a lost race still wakes on the next change", func(t *testing.T) {
		// At 5s B's takeover loses to Q (409). That is no reason to stop
		// watching: Q's release at 5.3s is taken at 5.3s, not at B's next
		// poll.
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "5", 0), true)
		var raced atomic.Bool
		l.onUpdate = func() {
			if !raced.Swap(true) {
				l.write(pyAt("Q", "5", 5*time.Second))
			}
		}
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(5 * time.Second)
		waitFor(t, "the re-read after the lost race", func() bool { return l.getCount() >= 3 })
		s.settle()
		s.advanceTo(sec(5.3))
		l.writeAndWaitRead(pyRecord("", "5", "2030-01-15 12:00:00", "2030-01-15 12:00:05"))
		assertEvents(t, "leadership", b.lifeEvents(), []string{"5.3s started"})
	})

	t.Run("re-arms when the leader renews", func(t *testing.T) {
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "5", 0), true)
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(sec(2.3))
		l.writeAndWaitRead(pyAt("P", "5", sec(2.3)))
		s.advanceTo(sec(4.1))
		l.writeAndWaitRead(pyAt("P", "5", sec(4.1)))
		s.advanceTo(sec(9.1) - quantum) // not at 5s, nor at 7.3s
		if b.e.IsLeader() {
			t.Errorf("at %v: leads before the renewed lease ran out", s.at())
		}
		s.advanceTo(sec(9.1))
		assertEvents(t, "lock calls", l.history(), []string{
			"0s get", "2.3s get", "4.1s get",
			"9.1s get", "9.1s update(B)", "9.1s update(B)",
		})
		assertEvents(t, "leadership", b.lifeEvents(), []string{"9.1s started"})
	})

	t.Run("a poke without a change keeps the lease end", func(t *testing.T) {
		// Waking is not observing a change: only a changed record restarts
		// the lease.
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "5", 0), true)
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(sec(1.2))
		n := l.getCount()
		l.poke()
		waitFor(t, "a read after the poke", func() bool { return l.getCount() > n })
		s.advanceTo(5 * time.Second)
		assertEvents(t, "lock calls", l.history(), []string{
			"0s get", "1.2s get",
			"5s get", "5s update(B)", "5s update(B)",
		})
	})

	t.Run("takes a release at once", func(t *testing.T) {
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "5", 0), true)
		b := s.candidate("B", withLock(l))
		b.start()
		s.advanceTo(sec(3.7))
		l.writeAndWaitRead(pyAt("", "5", sec(3.7)))
		assertEvents(t, "lock calls", l.history(), []string{
			"0s get",
			"3.7s get -> no record", "3.7s update(B)", "3.7s update(B)",
		})
		assertEvents(t, "leadership", b.lifeEvents(), []string{"3.7s started"})
	})

	t.Run("errors back off and ignore changes", func(t *testing.T) {
		s := newSim(t)
		l := newScriptLock(s, "B", pyAt("P", "5", 0), true)
		l.setGetErr(apierrors.NewForbidden(cmGR, testName, errors.New("cannot get configmaps")))
		b := s.candidate("B", withLock(l))
		b.start()
		// Changes arrive all through the backoff (attempts at 0s, 1s,
		// 3s, 7s, 15s): none wakes B.
		for _, at := range []time.Duration{sec(0.5), sec(1.5), 2 * time.Second, 4 * time.Second, sec(5.5), sec(6.5), 8 * time.Second} {
			s.advanceTo(at)
			l.write(pyAt("P", "5", at))
			s.settle()
			if len(l.changes) != 1 {
				t.Fatalf("at %v: the poke was taken", s.at())
			}
		}
		s.advanceTo(10 * time.Second)
		l.setGetErr(nil) // RBAC fixed
		s.advanceTo(16 * time.Second)
		// At 15s B reads P's record (first seen then: lease end 20s) and
		// watches again: the poke left from the backoff costs one more
		// read, and P's renewal at 16s wakes B, moving the end to 21s.
		l.writeAndWaitRead(pyAt("P", "5", 16*time.Second))
		s.advanceTo(21 * time.Second)
		assertEvents(t, "lock calls", l.history(), []string{
			"0s get -> Forbidden", "1s get -> Forbidden", "3s get -> Forbidden", "7s get -> Forbidden",
			"15s get", "15s get", "16s get",
			"21s get", "21s update(B)", "21s update(B)",
		})
		assertEvents(t, "logged errors", b.logs.errors(), []string{"failed to acquire lease"})
	})
}

// The same with the real configmaplock.Lock and a configmaplock.Watcher
// over the fake clientset. The Watcher runs on real time, so after each
// write the test waits for the follower to have read it (or, when it must
// not wake, for the cache to hold it and the poke to wait in its channel)
// before the fake clock moves on.
func TestWatchingFollowerWithConfigMapWatcher(t *testing.T) {
	// setup starts a watching follower B of a lock that P (a Python
	// candidate: the test) holds with a 5s lease since 0s.
	setup := func(t *testing.T) (*sim, *runner, <-chan struct{}, func()) {
		s := newSim(t, withRecord(pyAt("P", "5", 0)))
		w := s.newWatcher()
		b := s.candidate("B", watchedBy(w))
		probe := s.probe(w)
		s.runWatcher(w)
		s.drainPoke(b.lock.(config.Watching))
		b.start()
		s.settle()
		assertEvents(t, "B's reads at 0s", b.readEvents(), []string{"0s read(P)"})
		return s, b, b.lock.(config.Watching).Changes(), func() { s.waitCached(probe) }
	}

	t.Run("takes over when the observed lease ends, re-arming on renewals", func(t *testing.T) {
		s, b, _, _ := setup(t)
		for _, at := range []time.Duration{sec(1.5), sec(3.2)} {
			s.advanceTo(at)
			s.setAnnotation(pyAt("P", "5", at))
			b.waitRead(s.raw())
		}
		s.advanceTo(sec(8.2) - quantum)
		if b.e.IsLeader() || b.e.GetLeader() != "P" {
			t.Errorf("at %v: IsLeader() = %v, GetLeader() = %q; want false, P", s.at(), b.e.IsLeader(), b.e.GetLeader())
		}
		s.advanceTo(sec(9.2))
		assertEvents(t, "B's API calls", b.apiEvents(), []string{"8.2s update(B)", "8.2s update(B)", "9.2s update(B)"})
		assertEvents(t, "B's reads", b.readEvents(), []string{"0s read(P)", "1.5s read(P)", "3.2s read(P)", "8.2s read(P)"})
		if n := s.count("get"); n != 0 {
			t.Errorf("%d gets on the API server, want none: %q", n, s.verbs())
		}
		assertEvents(t, "leadership", b.lifeEvents(), []string{"8.2s started"})
		assertRecord(t, s.mustRecord(), "B", 5*time.Second, sec(8.2), sec(9.2))
		s.assertExtras()
	})

	t.Run("takes a release at once", func(t *testing.T) {
		s, b, _, _ := setup(t)
		s.advanceTo(sec(2.3))
		s.setAnnotation(pyAt("", "5", sec(2.3)))
		waitFor(t, "B to take the released lock", b.e.IsLeader)
		s.settle()
		assertEvents(t, "B's API calls at 2.3s", b.apiEvents(), []string{"2.3s update(B)", "2.3s update(B)"})
		s.advanceTo(sec(3.3))
		assertEvents(t, "B's API calls", b.apiEvents(), []string{"2.3s update(B)", "2.3s update(B)", "3.3s update(B)"})
		assertEvents(t, "B's reads", b.readEvents(), []string{"0s read(P)", "2.3s read() -> no record"})
		if n := s.count("get"); n != 0 {
			t.Errorf("%d gets on the API server, want none: %q", n, s.verbs())
		}
		assertEvents(t, "leadership", b.lifeEvents(), []string{"2.3s started"})
		assertRecord(t, s.mustRecord(), "B", 5*time.Second, sec(2.3), sec(3.3))
	})

	t.Run("API errors back off and ignore changes", func(t *testing.T) {
		s, b, changes, waitCached := setup(t)
		var on atomic.Bool
		on.Store(true)
		s.failWhile("update", &on, forbidden) // B may read but not write
		s.advanceTo(sec(1.5))
		s.setAnnotation(pyAt("", "5", sec(1.5))) // P releases
		b.waitRead(s.raw())
		// P writes released records all through B's backoff (attempts at
		// 1.5s, 2.5s, 4.5s, 8.5s): none wakes B.
		for _, at := range []time.Duration{2 * time.Second, 3 * time.Second, sec(3.5), 5 * time.Second, 6 * time.Second, 7 * time.Second} {
			s.advanceTo(at)
			s.setAnnotation(pyAt("", "5", at))
			waitCached()
			waitFor(t, "the poke to reach B", func() bool { return len(changes) == 1 })
			s.settle()
		}
		s.advanceTo(8 * time.Second)
		on.Store(false) // RBAC fixed
		s.advanceTo(sec(8.5))
		assertEvents(t, "B's API calls", b.apiEvents(), []string{
			"1.5s update(B) -> Forbidden", "2.5s update(B) -> Forbidden", "4.5s update(B) -> Forbidden",
			"8.5s update(B)", "8.5s update(B)",
		})
		assertEvents(t, "B's reads", b.readEvents(), []string{
			"0s read(P)",
			"1.5s read() -> no record", "2.5s read() -> no record", "4.5s read() -> no record", "8.5s read() -> no record",
		})
		assertEvents(t, "logged errors", b.logs.errors(), []string{"failed to acquire lease"})
		assertEvents(t, "leadership", b.lifeEvents(), []string{"8.5s started"})
	})
}
