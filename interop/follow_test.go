package interop

import (
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// followWindow is how long followers watch a live leader: three leases, and
// a retry so that the last lease has surely been judged.
const followWindow = 3*leaseDuration + retryPeriod

// minPolls is the fewest polls a follower must make in followWindow to show
// it kept judging the lease the whole time; it polls about every
// RetryPeriod (Go: 1 to 1.2 × RetryPeriod).
const minPolls = int(3 * leaseDuration / retryPeriod * 2 / 3)

// TestGoLeadsPythonFollows: a Go leader and two Python followers for three
// leases. No Python candidate ever leads, each of them names the Go leader
// as the holder at every poll, and the Python client's own reader,
// ConfigMapLock.get_lock_object(json.loads(annotation)), finds all four
// fields of our record set, both on samples of it and through
// ConfigMapLock.get on the live lock.
func TestGoLeadsPythonFollows(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	const lock, leader = "go-leads", "go-leader"
	followers := []string{"py-follower-1", "py-follower-2"}

	e.start(pool.Go, leader, lock)
	e.waitLeader(0, 20*time.Second)
	for _, id := range followers {
		e.start(pool.Python, id, lock)
	}
	for _, id := range followers {
		e.waitLog(id, 20*time.Second, "that "+leader+" holds the lease", heldLog(pool.Python, leader))
	}

	windowStart := time.Now()
	var samples []string
	for time.Since(windowStart) < followWindow {
		e.sleep(retryPeriod)
		samples = append(samples, e.annotation(lock))
	}

	for _, ev := range e.pool.Events() {
		switch {
		case ev.Event == pool.StartedLeading && ev.Identity != leader:
			t.Errorf("%s led at %v while %s held a live lease", ev.Identity, ev.Time.Sub(e.t0), leader)
		case (ev.Event == pool.StoppedLeading || ev.Event == pool.Exited) && ev.Identity == leader:
			t.Errorf("the Go leader %s: %s at %v", leader, ev.Event, ev.Time.Sub(e.t0))
		case ev.Event == pool.Exited:
			t.Errorf("%s exited with code %d at %v", ev.Identity, ev.Code, ev.Time.Sub(e.t0))
		}
	}
	for _, id := range followers {
		if n := e.logs.Count(id, windowStart, heldLog(pool.Python, leader)); n < minPolls {
			t.Errorf("%s found %s's lease valid %d times in %v, want at least %d", id, leader, n, followWindow, minPolls)
		}
	}

	// Our renewals: the Go leader keeps acquireTime and moves renewTime on,
	// in the Python dialect.
	var first record.Record
	for i, raw := range samples {
		r, err := record.Decode(raw)
		if err != nil {
			t.Fatalf("sample %d %s: %v", i, raw, err)
		}
		if r.HolderIdentity != leader || r.LeaseDuration != leaseDuration {
			t.Errorf("sample %d %s: holder %q lease %v", i, raw, r.HolderIdentity, r.LeaseDuration)
		}
		if i == 0 {
			first = r
			continue
		}
		if !r.AcquireTime.Equal(first.AcquireTime) {
			t.Errorf("sample %d: acquireTime moved from %v to %v while %s renewed", i, first.AcquireTime, r.AcquireTime, leader)
		}
		if !r.RenewTime.After(first.RenewTime) {
			t.Errorf("sample %d: renewTime %v not after the first sample's %v", i, r.RenewTime, first.RenewTime)
		}
	}

	objects, live := pythonLockObjects(t, samples, e.ns, lock)
	for i, o := range append(objects, live) {
		what := "get_lock_object of sample " + samples[min(i, len(samples)-1)]
		if i == len(objects) {
			what = "ConfigMapLock.get on the live lock"
		}
		if o.Error != "" {
			t.Errorf("Python %s: %s", what, o.Error)
			continue
		}
		if m := o.missing(); len(m) > 0 {
			t.Errorf("Python %s: %v are None: a Python candidate would take the lock at once", what, m)
			continue
		}
		if h := o.str(t, o.HolderIdentity); h != leader {
			t.Errorf("Python %s: holder %q, want %q", what, h, leader)
		}
		if l := o.str(t, o.LeaseDurationSeconds); l != "4" {
			t.Errorf("Python %s: leaseDurationSeconds %q, want \"4\"", what, l)
		}
	}
	t.Logf("%d samples of our record read by Python's get_lock_object, and the live lock by ConfigMapLock.get: all four fields set", len(samples))
}

// TestPythonLeadsGoFollows: a Python leader and two Go followers for three
// leases. No Go candidate ever leads; each reports the Python leader as the
// leader (it decoded Python's record) and finds its lease valid at every
// poll.
func TestPythonLeadsGoFollows(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	const lock, leader = "python-leads", "py-leader"
	followers := []string{"go-follower-1", "go-follower-2"}

	e.start(pool.Python, leader, lock)
	_, led := e.waitLeader(0, 20*time.Second)
	for _, id := range followers {
		e.start(pool.Go, id, lock)
	}
	for _, id := range followers {
		e.waitEvent(led, 20*time.Second, id+" naming "+leader+" the leader", func(ev pool.Event) bool {
			return ev.Identity == id && ev.Event == pool.NewLeader && ev.Leader == leader
		})
	}

	windowStart := time.Now()
	var samples []string
	for time.Since(windowStart) < followWindow {
		e.sleep(retryPeriod)
		samples = append(samples, e.annotation(lock))
	}

	for _, ev := range e.pool.Events() {
		switch {
		case ev.Event == pool.StartedLeading && ev.Identity != leader:
			t.Errorf("%s led at %v while %s held a live lease", ev.Identity, ev.Time.Sub(e.t0), leader)
		case ev.Event == pool.NewLeader && ev.Leader != leader:
			t.Errorf("%s saw %q as the leader at %v", ev.Identity, ev.Leader, ev.Time.Sub(e.t0))
		case ev.Event == pool.StoppedLeading || ev.Event == pool.Exited:
			t.Errorf("%s: %s at %v", ev.Identity, ev.Event, ev.Time.Sub(e.t0))
		}
	}
	for _, id := range followers {
		if n := e.logs.Count(id, windowStart, heldLog(pool.Go, leader)); n < minPolls {
			t.Errorf("%s found %s's lease valid %d times in %v, want at least %d", id, leader, n, followWindow, minPolls)
		}
	}
	// Python's record as we read it: Python's holder and lease, renewed.
	var prev record.Record
	for i, raw := range samples {
		r, err := record.Decode(raw)
		if err != nil {
			t.Fatalf("sample %d %s: %v", i, raw, err)
		}
		if r.HolderIdentity != leader || r.LeaseDuration != leaseDuration {
			t.Errorf("sample %d %s: holder %q lease %v", i, raw, r.HolderIdentity, r.LeaseDuration)
		}
		if i > 0 && !r.RenewTime.After(prev.RenewTime) && raw != samples[i-1] {
			t.Errorf("sample %d: renewTime %v not after %v", i, r.RenewTime, prev.RenewTime)
		}
		prev = r
	}
}
