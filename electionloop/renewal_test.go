package electionloop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
)

// Blind renewal: a leader renews with one update over what it wrote last,
// and reads only when that update gets a 409 Conflict.

// A steady leader costs exactly one API request per RetryPeriod, an update,
// counted over every call made on the clientset. With a watching follower
// beside it the pool still costs exactly that (plus the Watcher's one list
// and one watch): the follower reads the Watcher's cache.
func TestSteadyLeaderOneRequestPerRetryPeriod(t *testing.T) {
	const renewalsCounted = 20

	t.Run("leader alone", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		a := s.candidate("A")
		a.start()
		s.settle()
		assertEvents(t, "API calls at 0s", a.apiEvents(), acquired(0, "A"))
		before := s.actions()
		s.advanceTo(renewalsCounted * time.Second)
		verbs := s.verbs()[before:]
		if len(verbs) != renewalsCounted {
			t.Errorf("%d calls over %d RetryPeriods, want %d: %q", len(verbs), renewalsCounted, renewalsCounted, verbs)
		}
		for _, v := range verbs {
			if v != "update" {
				t.Errorf("calls %q, want only updates", verbs)
				break
			}
		}
		assertEvents(t, "API calls", a.apiEvents(), cat(acquired(0, "A"), renewals(time.Second, renewalsCounted*time.Second, "A")))
		assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, renewalsCounted*time.Second)
		s.assertExtras()
	})

	t.Run("with a watching follower", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		w := s.newWatcher()
		a := s.candidate("A")
		b := s.candidate("B", watchedBy(w))
		probe := s.probe(w)
		s.runWatcher(w)
		s.drainPoke(b.lock.(config.Watching))
		a.start()
		s.settle()
		s.waitCached(probe)
		b.start()
		b.followWrites() // B re-arms at each of A's renewals
		s.settle()
		before := s.actions()
		s.advanceTo(renewalsCounted * time.Second)
		verbs := s.verbs()[before:]
		if len(verbs) != renewalsCounted {
			t.Errorf("%d calls over %d RetryPeriods, want %d: %q", len(verbs), renewalsCounted, renewalsCounted, verbs)
		}
		if got := s.count("list") + s.count("watch"); got != 2 {
			t.Errorf("%d lists and watches, want the Watcher's one of each: %q", got, s.verbs())
		}
		assertEvents(t, "A's API calls", a.apiEvents(), cat(acquired(0, "A"), renewals(time.Second, renewalsCounted*time.Second, "A")))
		assertEvents(t, "B's API calls", b.apiEvents(), nil)
		if len(b.readEvents()) == 0 || b.e.GetLeader() != "A" || b.e.IsLeader() {
			t.Errorf("B read %q, sees leader %q (leading %v); want reads of A's record", b.readEvents(), b.e.GetLeader(), b.e.IsLeader())
		}
	})
}

// A 409 on a blind renewal costs one read and, the record still naming this
// leader, one write, in the same attempt at the same moment; it is counted
// as an API error but not as a failed renewal, keeps acquireTime and what
// the other writer changed, and the next renewal is blind again.
func TestConflictOnBlindRenewal(t *testing.T) {
	s := newSim(t, withRecord(""))
	m := &metricsRecorder{s: s}
	a := s.candidate("A", withMetrics(m))
	a.start()
	s.advanceTo(sec(1.5))
	// Someone labels the ConfigMap: the record is unchanged, the version
	// is not.
	cm := s.configMap()
	cm.Labels["team"] = "b"
	s.putConfigMap(cm)
	s.advanceTo(2*time.Second - quantum)
	before := len(a.apiEvents())
	s.advanceTo(2 * time.Second)
	assertEvents(t, "API calls of the attempt at 2s", a.apiSince(before), conflicted(2*time.Second, "A"))
	s.advanceTo(3 * time.Second)

	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, time.Second, "A"),
		conflicted(2*time.Second, "A"),
		renewals(3*time.Second, 3*time.Second, "A"),
	))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started"})
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 3*time.Second)
	if got := s.configMap().Labels["team"]; got != "b" {
		t.Errorf("label team = %q, want the other writer's b", got)
	}
	s.assertExtras()
	assertEvents(t, "metrics", m.history(), []string{
		"0s leading=true", "0s renewed",
		"1s renewed",
		"2s api error conflict", "2s renewed",
		"3s renewed",
	})
	assertEvents(t, "logged errors", a.logs.errors(), nil)
}

// A leader whose ConfigMap was deleted gets NotFound on its blind renewal;
// it reads, as after a conflict, and recreates the lock at once, keeping the
// lead: its followers, which saw its record, wait for its lease to run out
// before they would create it (TestDeletedLockNotRecreatedBeforeObservedLeaseEnds).
func TestLockDeletedUnderLeaderIsRecreated(t *testing.T) {
	s := newSim(t, withRecord(""))
	a := s.candidate("A")
	a.start()
	s.advanceTo(sec(1.5))
	s.deleteConfigMap()
	s.advanceTo(5 * time.Second)

	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, time.Second, "A"),
		// The recreation is that renewal: one attempt at 2s.
		[]string{"2s update(A) -> NotFound", "2s get -> NotFound", "2s create(A)"},
		renewals(3*time.Second, 5*time.Second, "A"),
	))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started"})
	// Recreated as a takeover of a missing lock: a new acquireTime.
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 2*time.Second, 5*time.Second)
	assertEvents(t, "logged errors", a.logs.errors(), nil)
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled: it should have led until cancelled", err)
	}
}

// probe returns a lock on w used only to see what w's cache holds. Make it
// after the candidates' locks, so that a Watcher pokes them first.
func (s *sim) probe(w *configmaplock.Watcher) *configmaplock.Lock {
	s.t.Helper()
	l, err := configmaplock.New(s.client.CoreV1(), configmaplock.Options{Namespace: testNamespace, Name: testName, Identity: "probe", Watcher: w})
	if err != nil {
		s.t.Fatalf("configmaplock.New: %v", err)
	}
	return l
}

// waitCached waits until the Watcher's cache, seen through probe, holds the
// stored annotation (which may be a released or malformed record).
func (s *sim) waitCached(probe *configmaplock.Lock) {
	s.t.Helper()
	want := s.raw()
	waitFor(s.t, "the cache to hold "+want, func() bool {
		_, raw, _ := probe.Get(context.Background())
		return raw == want
	})
}

// An acquisition whose write took longer than RenewDeadline must not lead on
// it: the lease it started may already be over for the other candidates. The
// candidate renews at once and leads from that renewal, with no start and
// stop of leadership in the same instant.
func TestSlowAcquisitionRenewsBeforeLeading(t *testing.T) {
	s := newSim(t)
	var slowed atomic.Bool
	s.react("create", func(k8stesting.Action) error {
		if !slowed.Swap(true) {
			s.clk.Step(4 * time.Second) // the write hangs past RenewDeadline (3s)
		}
		return nil
	})
	a := s.candidate("A")
	a.start()
	s.advanceTo(sec(6.5))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"4s started"})
	assertEvents(t, "API calls", a.apiEvents(), cat(
		[]string{"0s get -> NotFound", "4s create(A)", "4s get", "4s update(A)"},
		renewals(4*time.Second, 6*time.Second, "A"),
	))
}
