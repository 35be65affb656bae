package interop

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// waitFollowing waits until the candidate id of kind has found holder's
// lease valid at a poll: it has read the holder's record and judges it.
func (e *env) waitFollowing(kind pool.Kind, id, holder string) {
	e.t.Helper()
	e.waitLog(id, 20*time.Second, "that "+holder+" holds the lease", heldLog(kind, holder))
}

// other returns the kind that is not k.
func other(k pool.Kind) pool.Kind {
	if k == pool.Go {
		return pool.Python
	}
	return pool.Go
}

// TestCrashFailover: a leader of one language is killed with SIGKILL while
// two followers of the other language follow it; one of them leads within
// LeaseDuration + 2 × RetryPeriod of the kill, and not before the leader's
// last renewal's lease can have passed.
func TestCrashFailover(t *testing.T) {
	t.Parallel()
	for _, from := range []pool.Kind{pool.Go, pool.Python} {
		to := other(from)
		t.Run(string(from)+"-to-"+string(to), func(t *testing.T) {
			t.Parallel()
			e := setup(t, true)
			const lock = "crash"
			leader := string(from) + "-leader"
			followers := []string{string(to) + "-follower-1", string(to) + "-follower-2"}

			c := e.start(from, leader, lock)
			e.waitLeader(0, 20*time.Second)
			for _, id := range followers {
				e.start(to, id, lock)
			}
			for _, id := range followers {
				e.waitFollowing(to, id, leader)
			}
			// Kill at a random point of the leader's renewal cycle.
			e.sleep(retryPeriod + rand.N(retryPeriod))
			if err := e.pool.Kill(c); err != nil {
				t.Fatal(err)
			}
			killed, at := e.signalled(leader)
			lastRenew := e.lastRenewal(lock, leader)
			next, _ := e.waitLeader(at, failoverBound+10*time.Second)
			took := next.Time.Sub(killed.Time)
			t.Logf("failover %s → %s: %s led %v after SIGKILL of %s (bound %v), %v after its last renewal",
				from, to, next.Identity, took.Round(time.Millisecond), leader, failoverBound, next.Time.Sub(lastRenew).Round(time.Millisecond))

			if !strings.HasPrefix(next.Identity, string(to)+"-") {
				t.Errorf("%s led after the kill, want one of %v", next.Identity, followers)
			}
			if took > failoverBound {
				t.Errorf("failover took %v, more than LeaseDuration + 2 × RetryPeriod = %v", took, failoverBound)
			}
			if after := next.Time.Sub(lastRenew); after < leaseDuration-requestSlack {
				t.Errorf("%s led %v after the killed leader's last renewal, before its lease (%v) passed", next.Identity, after, leaseDuration)
			}
			e.checkNoOverlap()
			if r, err := record.Decode(e.annotation(lock)); err != nil || r.HolderIdentity != next.Identity {
				t.Errorf("after the failover the record is %+v, %v; want held by %s", r, err, next.Identity)
			}
		})
	}
}

// TestReleaseHandsOverToPython: a Go leader with --release-on-cancel gets
// SIGTERM; it stops leading, writes a released record (no holder), and exits
// 0, and a Python follower takes the lock at its next retry: within
// RetryPeriod (and 1.5 s of slack) of the SIGTERM, not after a lease.
func TestReleaseHandsOverToPython(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	const lock, leader = "release", "go-leader"
	followers := []string{"py-follower-1", "py-follower-2"}
	const slack = 1500 * time.Millisecond

	c := e.start(pool.Go, leader, lock, func(s *pool.Spec) { s.ReleaseOnCancel = true })
	e.waitLeader(0, 20*time.Second)
	for _, id := range followers {
		e.start(pool.Python, id, lock)
	}
	for _, id := range followers {
		e.waitFollowing(pool.Python, id, leader)
	}
	e.sleep(retryPeriod + rand.N(retryPeriod))
	if err := e.pool.Terminate(c); err != nil {
		t.Fatal(err)
	}
	termed, at := e.signalled(leader)
	next, _ := e.waitLeader(at, leaseDuration+failoverBound)
	took := next.Time.Sub(termed.Time)
	t.Logf("release Go → Python: %s led %v after SIGTERM of %s (bound %v)", next.Identity, took.Round(time.Millisecond), leader, retryPeriod+slack)

	if !strings.HasPrefix(next.Identity, "py-") {
		t.Errorf("%s led after the release, want a Python follower", next.Identity)
	}
	if took > retryPeriod+slack {
		t.Errorf("the handover took %v, want within RetryPeriod %v (+%v slack): the release was not taken at the next retry", took, retryPeriod, slack)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if code, err := c.Wait(ctx); err != nil || code != 0 {
		t.Errorf("the released Go leader exited with %d, %v; want 0", code, err)
	}
	stopped := e.eventsOf(at, pool.StoppedLeading, func(ev pool.Event) bool { return ev.Identity == leader })
	if len(stopped) != 1 || !stopped[0].Time.Before(next.Time) {
		t.Errorf("the Go leader's stopped_leading events after SIGTERM: %v; want one, before %s started at %v", stopped, next.Identity, next.Time.Sub(e.t0))
	}
	e.checkNoOverlap()
}
