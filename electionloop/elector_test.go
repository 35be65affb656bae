package electionloop

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepy/leaderelection/record"
)

// Unless a test says otherwise, candidates run with LeaseDuration 5s,
// RenewDeadline 3s, RetryPeriod 1s and jitter 0 (see sim.candidate).

// A missing ConfigMap is created holding our record; the first renewal
// follows at once, the next ones every RetryPeriod, each a single blind
// update that keeps acquireTime while moving renewTime. Someone else's write
// to the ConfigMap (here annotations, a label and data) makes the next
// renewal get a 409, read, and write again, and what they added survives.
// Cancelling without ReleaseOnCancel writes nothing.
func TestCreatesMissingLockAndRenews(t *testing.T) {
	s := newSim(t)
	a := s.candidate("A")
	a.start()
	s.settle()

	assertEvents(t, "API calls at 0s", a.apiEvents(), created(0, "A"))
	assertEvents(t, "leadership at 0s", a.lifeEvents(), []string{"0s started"})
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 0)
	if !a.e.IsLeader() || a.e.GetLeader() != "A" {
		t.Errorf("IsLeader() = %v, GetLeader() = %q; want true, A", a.e.IsLeader(), a.e.GetLeader())
	}

	s.advanceTo(sec(0.5))
	s.addExtras() // someone annotates, labels and fills the lock

	for at := time.Second; at <= 5*time.Second; at += time.Second {
		s.advanceTo(at)
		assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, at)
		s.assertExtras()
	}
	assertEvents(t, "API calls up to 5s", a.apiEvents(), cat(
		created(0, "A"),
		conflicted(time.Second, "A"),
		renewals(2*time.Second, 5*time.Second, "A"),
	))

	s.advanceTo(sec(5.5))
	calls := s.actions()
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v, want context.Canceled", err)
	}
	if n := s.actions(); n != calls {
		t.Errorf("%d API calls after cancel without ReleaseOnCancel, want none", n-calls)
	}
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "5.5s stopped"})
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 5*time.Second)
	if a.e.IsLeader() {
		t.Error("IsLeader() after Run returned")
	}
	assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"A"})
}

// An existing ConfigMap whose annotation Python would not count as a record
// is taken at the first attempt, keeping everything else in it.
func TestTakesLockWithoutRecordAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cm        *corev1.ConfigMap
		otherNote bool // the fixture has another annotation to keep
	}{
		{"no annotations", configMap(nil), false},
		{"other annotations only", configMap(map[string]string{"example.com/owner": "team-a"}), true},
		{"empty annotation", withRecord(""), true},
		{"missing fields", withRecord(`{"holderIdentity": "B", "leaseDurationSeconds": "30"}`), true},
		{"null fields", withRecord(`{"holderIdentity": "B", "leaseDurationSeconds": null, "acquireTime": null, "renewTime": null}`), true},
		{"zero lease", withRecord(`{"holderIdentity": "B", "leaseDurationSeconds": 0, "acquireTime": "2030-01-15 11:59:59", "renewTime": "2030-01-15 11:59:59"}`), true},
		{"released by Python", withRecord(pyRecord("", "30", "2030-01-15 11:59:00", "2030-01-15 11:59:59")), true},
		{"released by client-go", withRecord(`{"holderIdentity":"","leaseDurationSeconds":30,"acquireTime":"2030-01-15T11:59:00Z","renewTime":"2030-01-15T11:59:59Z","leaderTransitions":3}`), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.cm)
			a := s.candidate("A")
			a.start()
			s.settle()

			assertEvents(t, "API calls", a.apiEvents(), acquired(0, "A"))
			assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started"})
			assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 0)
			cm := s.configMap()
			if cm.Labels["app"] != "demo" || cm.Data["config.yaml"] != "replicas: 3\n" {
				t.Errorf("labels %v, data %v: not kept", cm.Labels, cm.Data)
			}
			if tc.otherNote {
				s.assertExtras()
			}
			s.advanceTo(time.Second)
			assertEvents(t, "API calls", a.apiEvents(), cat(acquired(0, "A"), renewals(time.Second, time.Second, "A")))
			assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, time.Second)
			if err := a.stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("Run() = %v", err)
			}
			assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"A"})
		})
	}
}

// A follower takes a valid record held by another only once the raw record
// has gone unchanged, on the follower's clock, for the longer of its own
// LeaseDuration and the record's leaseDurationSeconds. The timestamps in
// the record play no part.
func TestFollowerWaitsForExpiry(t *testing.T) {
	const (
		past   = "1971-02-03 04:05:06"
		sane   = "2030-01-15 11:59:59"
		future = "2999-12-31 23:59:59.999999"
	)
	for _, tc := range []struct {
		name string
		raw  string
		want time.Duration // when A takes the lock
	}{
		{"sane times", pyRecord("B", "5", sane, sane), 5 * time.Second},
		{"times far in the past", pyRecord("B", "5", past, past), 5 * time.Second},
		{"times far in the future", pyRecord("B", "5", future, future), 5 * time.Second},
		{"acquired in the future renewed in the past", pyRecord("B", "5", future, past), 5 * time.Second},
		{"unreadable times", pyRecord("B", "5", "yesterday", "soon"), 5 * time.Second},
		{"client-go times in the future", `{"holderIdentity":"B","leaseDurationSeconds":5,"acquireTime":"2999-01-01T00:00:00Z","renewTime":"2999-01-01T00:00:00Z","leaderTransitions":7}`, 5 * time.Second},
		{"client-go times in the past", `{"holderIdentity":"B","leaseDurationSeconds":5,"acquireTime":"1970-01-02T00:00:00Z","renewTime":"1970-01-02T00:00:00Z","leaderTransitions":7}`, 5 * time.Second},
		{"record lease longer", pyRecord("B", "8", sane, sane), 8 * time.Second},
		{"record lease longer and fractional", pyRecord("B", "7.5", sane, sane), 8 * time.Second},
		{"record lease shorter", pyRecord("B", "2", sane, sane), 5 * time.Second},
		{"record lease unreadable", pyRecord("B", "forever", sane, sane), 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, withRecord(tc.raw))
			a := s.candidate("A")
			a.start()
			s.advanceTo(tc.want - time.Second)
			if a.e.IsLeader() || a.e.GetLeader() != "B" {
				t.Errorf("at %v: IsLeader() = %v, GetLeader() = %q; want false, B", s.at(), a.e.IsLeader(), a.e.GetLeader())
			}
			if got := s.raw(); got != tc.raw {
				t.Errorf("at %v: record changed to %q before the lease ran out", s.at(), got)
			}
			s.advanceTo(tc.want + time.Second)

			assertEvents(t, "API calls", a.apiEvents(), cat(
				seq(0, tc.want-time.Second, time.Second, "get"),
				acquired(tc.want, "A"),
				renewals(tc.want+time.Second, tc.want+time.Second, "A"),
			))
			assertEvents(t, "leadership", a.lifeEvents(), []string{ev(tc.want, "started")})
			// A takeover writes a new acquireTime.
			assertRecord(t, s.mustRecord(), "A", 5*time.Second, tc.want, tc.want+time.Second)
			s.assertExtras()
			if err := a.stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("Run() = %v", err)
			}
			assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"B", "A"})
		})
	}
}

// A leader that keeps renewing is never taken over; once it stops, a
// follower takes over the longer of both leases after it saw the last
// renewal.
func TestLiveLeaderIsNotTakenOver(t *testing.T) {
	s := newSim(t)
	b := s.candidate("B", timing(8*time.Second, 3*time.Second, time.Second))
	a := s.candidate("A") // LeaseDuration 5s, shorter than B's 8s
	b.start()
	s.advanceTo(sec(0.5))
	a.start() // A's attempts fall half-way between B's
	s.advanceTo(sec(20.2))
	if a.e.IsLeader() || !b.e.IsLeader() {
		t.Fatalf("at %v: A leads %v, B leads %v", s.at(), a.e.IsLeader(), b.e.IsLeader())
	}
	if err := b.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("B: Run() = %v", err)
	}
	s.advanceTo(30 * time.Second)

	assertEvents(t, "B's API calls", b.apiEvents(), cat(
		created(0, "B"),
		renewals(time.Second, 20*time.Second, "B"),
	))
	// B's last renewal at 20s is first seen by A at 20.5s: A takes over
	// max(5s, 8s) later.
	assertEvents(t, "A's API calls", a.apiEvents(), cat(
		seq(sec(0.5), sec(27.5), time.Second, "get"),
		acquired(sec(28.5), "A"),
		renewals(sec(29.5), sec(29.5), "A"),
	))
	assertEvents(t, "A's leadership", a.lifeEvents(), []string{"28.5s started"})
	assertEvents(t, "B's leadership", b.lifeEvents(), []string{"0s started", "20.2s stopped"})
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, sec(28.5), sec(29.5))
	a.stop()
	assertEvents(t, "A's OnNewLeader", a.newLeaders(), []string{"B", "A"})
}

var errTransport = errors.New("dial tcp 10.96.0.1:443: connect: connection refused")

// With every Update failing, the leader stops exactly at its last successful
// renewal + RenewDeadline, cancelling the work before OnStoppedLeading, and
// Run returns ErrLeadershipLost only once OnStartedLeading has returned.
func TestLosesLeadershipAtRenewDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failFrom time.Duration // Updates fail from then on
		want     []string
		stop     time.Duration
		failures int // renewals that failed
	}{
		{
			name:     "after renewals",
			failFrom: sec(2.5),
			want: cat(
				created(0, "A"),
				renewals(time.Second, 2*time.Second, "A"),
				seq(3*time.Second, 4*time.Second, time.Second, "update(A) -> error"),
			),
			stop:     sec(4.5), // 2s + 2.5s, not at the next RetryPeriod (5s)
			failures: 2,
		},
		{
			name:     "from the first renewal",
			failFrom: 0,
			want: cat(
				[]string{"0s get -> NotFound", "0s create(A)"},
				seq(0, 2*time.Second, time.Second, "update(A) -> error"),
			),
			stop:     sec(2.5), // the acquisition at 0s counts as the last renewal
			failures: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			var failing atomic.Bool
			s.failWhile("update", &failing, errTransport)
			a := s.candidate("A", timing(5*time.Second, sec(2.5), time.Second), holdWork())
			failing.Store(tc.failFrom == 0)
			a.start()
			s.advanceTo(tc.failFrom)
			failing.Store(true)
			s.advanceTo(tc.stop - quantum)
			if !a.e.IsLeader() {
				t.Fatalf("at %v: not leading any more", s.at())
			}
			s.advanceTo(tc.stop + 2*time.Second)

			assertEvents(t, "API calls", a.apiEvents(), tc.want)
			assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", ev(tc.stop, "stopped")})
			if a.e.IsLeader() {
				t.Error("IsLeader() after leadership was lost")
			}
			// Run must wait for OnStartedLeading, held here.
			select {
			case <-a.done:
				t.Fatal("Run returned while OnStartedLeading was still running")
			case <-time.After(50 * time.Millisecond):
			}
			a.releaseWork()
			err := a.wait()
			if !errors.Is(err, ErrLeadershipLost) {
				t.Errorf("Run() = %v, want ErrLeadershipLost", err)
			}
			if !errors.Is(err, errTransport) {
				t.Errorf("Run() = %v, want it to wrap the last renewal error", err)
			}
			if strings.Contains(err.Error(), "%!") {
				t.Errorf("Run() error %q has a formatting mistake", err)
			}
			var wantErrors []string
			for range tc.failures {
				wantErrors = append(wantErrors, "failed to renew lease")
			}
			assertEvents(t, "logged errors", a.logs.errors(), append(wantErrors, "stopped leading"))
		})
	}
}

// A leader whose process was frozen past its RenewDeadline stops leading when
// it wakes, before making any API call: by then a follower may lead.
func TestFrozenLeaderStopsWithoutCallingAPI(t *testing.T) {
	s := newSim(t)
	a := s.candidate("A")
	a.start()
	s.settle() // acquired and renewed at 0s; waits RetryPeriod

	// Frozen just short of the deadline: it renews when it wakes.
	s.jump(sec(2.99))
	assertEvents(t, "API calls", a.apiEvents(), cat(
		created(0, "A"),
		[]string{"2.99s update(A)"},
	))
	if !a.e.IsLeader() {
		t.Fatal("not leading after waking before the deadline")
	}

	// Frozen for exactly RenewDeadline since that renewal.
	calls := s.actions()
	s.jump(3 * time.Second)
	err := a.wait()
	if n := s.actions(); n != calls {
		t.Errorf("%d API calls after waking past the deadline, want none: %q", n-calls, a.apiEvents())
	}
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "5.99s stopped"})
	if !errors.Is(err, ErrLeadershipLost) {
		t.Errorf("Run() = %v, want ErrLeadershipLost", err)
	}
	if strings.Contains(err.Error(), "%!") {
		t.Errorf("Run() error %q has a formatting mistake", err)
	}
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, sec(2.99))
}

// When another identity overwrites the record while we lead, the next
// renewal's blind update gets a 409 (it would write over a version it did
// not see), reads the record, finds the intruder and stops leading at once:
// it writes nothing over the intruder, and makes no further call.
func TestOtherHolderWhileLeadingStopsAtOnce(t *testing.T) {
	s := newSim(t, withRecord(""))
	a := s.candidate("A")
	a.start()
	s.advanceTo(sec(2.5))
	intruder := pyRecord("intruder", "5", "2030-01-15 12:00:02.500000", "2030-01-15 12:00:02.500000")
	s.setAnnotation(intruder)
	intruderRV := s.resourceVersion()
	s.advanceTo(3 * time.Second)
	err := a.wait()

	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, 2*time.Second, "A"),
		[]string{"3s update(A) -> Conflict", "3s get"},
	))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "3s stopped"})
	if got := s.raw(); got != intruder {
		t.Errorf("record = %q, want the intruder's untouched", got)
	}
	if rv := s.resourceVersion(); rv != intruderRV {
		t.Errorf("resourceVersion %s, want the intruder's %s: someone wrote after it", rv, intruderRV)
	}
	s.assertExtras()
	if !errors.Is(err, ErrLeadershipLost) || !strings.Contains(err.Error(), "intruder") {
		t.Errorf("Run() = %v, want ErrLeadershipLost naming the intruder", err)
	}
	if a.e.IsLeader() || a.e.GetLeader() != "intruder" {
		t.Errorf("IsLeader() = %v, GetLeader() = %q; want false, intruder", a.e.IsLeader(), a.e.GetLeader())
	}
	assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"A", "intruder"})
}

// With ReleaseOnCancel, cancelling Run's context cancels the work, waits for
// it to return, then writes a record without holder that keeps everything
// else, and Run returns ctx.Err().
func TestReleaseOnCancel(t *testing.T) {
	s := newSim(t, withRecord(""))
	var (
		a                 *runner
		releaseWrites     atomic.Int32
		workDoneAtRelease atomic.Bool
	)
	s.react("update", func(act k8stesting.Action) error {
		if writtenHolder(act.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)) == "" {
			releaseWrites.Add(1)
			a.mu.Lock()
			workDoneAtRelease.Store(a.workReturned && a.stopped)
			a.mu.Unlock()
		}
		return nil
	})
	a = s.candidate("A", releaseOnCancel())
	a.start()
	s.advanceTo(sec(2.5))
	err := a.stop()

	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, 2*time.Second, "A"),
		[]string{"2.5s update()"},
	))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "2.5s stopped"})
	if !a.stopWorkDone {
		t.Error("OnStoppedLeading ran before OnStartedLeading returned")
	}
	if releaseWrites.Load() != 1 || !workDoneAtRelease.Load() {
		t.Errorf("%d releases, after the work returned and OnStoppedLeading ran: %v; want 1, true", releaseWrites.Load(), workDoneAtRelease.Load())
	}
	rec, derr := s.record()
	if !errors.Is(derr, record.ErrNoRecord) {
		t.Errorf("released record %q decodes with %v, want ErrNoRecord", s.raw(), derr)
	}
	assertRecord(t, rec, "", 5*time.Second, 0, sec(2.5))
	s.assertExtras()
	if a.e.IsLeader() || a.e.GetLeader() != "" {
		t.Errorf("IsLeader() = %v, GetLeader() = %q after release", a.e.IsLeader(), a.e.GetLeader())
	}
}

// Without ReleaseOnCancel, cancelling writes nothing.
func TestNoReleaseWithoutReleaseOnCancel(t *testing.T) {
	s := newSim(t, withRecord(""))
	a := s.candidate("A")
	a.start()
	s.advanceTo(sec(2.5))
	calls := s.actions()
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	if n := s.actions(); n != calls {
		t.Errorf("%d API calls after cancel, want none", n-calls)
	}
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 2*time.Second)
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "2.5s stopped"})
}

// A release is skipped when the work outlives the lease: a follower may lead
// by then, and two leaders must not work together.
func TestNoReleaseWhenWorkOutlivesRenewDeadline(t *testing.T) {
	s := newSim(t, withRecord(""))
	a := s.candidate("A", releaseOnCancel(), holdWork())
	a.start()
	s.advanceTo(sec(2.5))
	a.cancelLeader()
	s.advanceTo(sec(4.99))
	if got := a.lifeEvents(); len(got) != 1 {
		t.Fatalf("at %v: leadership %q, want still waiting for the work", s.at(), got)
	}
	s.advanceTo(6 * time.Second) // last renewal 2s + RenewDeadline 3s = 5s
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "5s stopped"})
	a.releaseWork()
	if err := a.wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, 2*time.Second, "A"),
	))
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 2*time.Second)
}

// A follower takes a released lock at its next attempt, not a lease later.
func TestFollowerTakesReleasedLockAtNextRetry(t *testing.T) {
	s := newSim(t)
	a := s.candidate("A", releaseOnCancel())
	b := s.candidate("B")
	a.start()
	s.advanceTo(sec(0.5))
	b.start()
	s.advanceTo(sec(3.2))
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("A: Run() = %v", err)
	}
	s.advanceTo(4 * time.Second)

	assertEvents(t, "A's API calls", a.apiEvents(), cat(
		created(0, "A"),
		renewals(time.Second, 3*time.Second, "A"),
		[]string{"3.2s update()"},
	))
	assertEvents(t, "B's API calls", b.apiEvents(), cat(
		seq(sec(0.5), sec(2.5), time.Second, "get"),
		acquired(sec(3.5), "B"),
	))
	assertEvents(t, "B's leadership", b.lifeEvents(), []string{"3.5s started"})
	assertRecord(t, s.mustRecord(), "B", 5*time.Second, sec(3.5), sec(3.5))
	b.stop()
	assertEvents(t, "B's OnNewLeader", b.newLeaders(), []string{"A", "B"})
}

// A corrupt annotation (not a JSON object) names no holder, but its changes
// show that someone writes it: a follower takes the lock once the raw value
// stayed unchanged for LeaseDuration, and writes a valid record.
func TestCorruptAnnotation(t *testing.T) {
	type change struct {
		at  time.Duration
		raw string
	}
	for _, tc := range []struct {
		name    string
		changes []change
		want    time.Duration
	}{
		{"unchanged", nil, 5 * time.Second},
		// Seen at 1s and 3s: taken at 3s + 5s.
		{"changing", []change{{sec(0.5), "{broken"}, {sec(2.5), "[1, 2]"}}, 8 * time.Second},
		{"JSON null", []change{{sec(1.5), "null"}}, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, withRecord("not JSON at all"))
			a := s.candidate("A")
			a.start()
			for _, c := range tc.changes {
				s.advanceTo(c.at)
				s.setAnnotation(c.raw)
			}
			s.advanceTo(tc.want)

			assertEvents(t, "API calls", a.apiEvents(), cat(
				seq(0, tc.want-time.Second, time.Second, "get"),
				acquired(tc.want, "A"),
			))
			assertEvents(t, "leadership", a.lifeEvents(), []string{ev(tc.want, "started")})
			assertRecord(t, s.mustRecord(), "A", 5*time.Second, tc.want, tc.want)
			s.assertExtras()
			a.stop()
			assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"A"})
		})
	}
}

// A leader that finds its record corrupted rewrites it at once: its own
// lease has not run out. (The corrupting write makes the blind renewal get a
// 409 first, which makes the leader read.)
func TestLeaderOverwritesCorruptAnnotation(t *testing.T) {
	s := newSim(t, withRecord(""))
	a := s.candidate("A")
	a.start()
	s.advanceTo(sec(1.5))
	s.setAnnotation("garbage")
	s.advanceTo(3 * time.Second)
	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, time.Second, "A"),
		conflicted(2*time.Second, "A"),
		renewals(3*time.Second, 3*time.Second, "A"),
	))
	if !a.e.IsLeader() {
		t.Error("stopped leading over a corrupt record")
	}
	rec := s.mustRecord()
	if rec.HolderIdentity != "A" || !rec.RenewTime.Equal(t0.Add(3*time.Second)) {
		t.Errorf("record %+v, want held by A, renewed at 3s", rec)
	}
	s.assertExtras()
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started"})
}

var errConflict = apierrors.NewConflict(cmGR, testName, errors.New("the object has been modified; please apply your changes to the latest version and try again"))

// A follower that loses a race (409 Conflict on update, AlreadyExists on
// create) retries at the next jittered RetryPeriod, without logging an error.
func TestLostRacesRetryAfterJitteredRetryPeriod(t *testing.T) {
	t.Run("conflict on update", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		s.failNext("update", 1, errConflict)
		a := s.candidate("A", jitter(0.5)) // waits 1s × (1 + 0.5 × 0.2) = 1.1s
		a.start()
		s.advanceTo(3 * time.Second)
		assertEvents(t, "API calls", a.apiEvents(), cat(
			[]string{"0s get", "0s update(A) -> Conflict"},
			acquired(sec(1.1), "A"),
			renewals(sec(2.1), sec(2.1), "A"), // a leader renews every RetryPeriod, unjittered
		))
		assertEvents(t, "leadership", a.lifeEvents(), []string{"1.1s started"})
		assertEvents(t, "logged errors", a.logs.errors(), nil)
	})

	t.Run("already exists on create", func(t *testing.T) {
		s := newSim(t)
		var once sync.Once
		s.react("create", func(k8stesting.Action) error {
			var err error
			once.Do(func() {
				// B creates the lock first.
				if e := s.addConfigMap(withRecord(pyRecord("B", "5", "2030-01-15 12:00:00", "2030-01-15 12:00:00"))); e != nil {
					t.Errorf("add: %v", e)
				}
				err = apierrors.NewAlreadyExists(cmGR, testName)
			})
			return err
		})
		a := s.candidate("A", jitter(0.5))
		a.start()
		s.advanceTo(7 * time.Second)
		// B's record is first seen at 1.1s, so A takes it at the first
		// attempt from 6.1s on.
		assertEvents(t, "API calls", a.apiEvents(), cat(
			[]string{"0s get -> NotFound", "0s create(A) -> AlreadyExists"},
			seq(sec(1.1), sec(5.5), sec(1.1), "get"),
			acquired(sec(6.6), "A"),
		))
		assertEvents(t, "logged errors", a.logs.errors(), nil)
		a.stop()
		assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"B", "A"})
	})

	// A 409 scripted on a blind renewal (nothing changed in the store):
	// the attempt reads and writes again at once.
	t.Run("conflict on renewal", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		var once sync.Once
		s.react("update", func(k8stesting.Action) error {
			var err error
			if s.at() == 2*time.Second {
				once.Do(func() { err = errConflict })
			}
			return err
		})
		a := s.candidate("A", jitter(0.5))
		a.start()
		s.advanceTo(4 * time.Second)
		assertEvents(t, "API calls", a.apiEvents(), cat(
			acquired(0, "A"),
			renewals(time.Second, time.Second, "A"),
			conflicted(2*time.Second, "A"),
			renewals(3*time.Second, 4*time.Second, "A"),
		))
		assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started"})
	})
}

// Errors that retrying soon will not fix are logged once and back off
// exponentially up to 16 × RetryPeriod; transport errors retry every
// (jittered) RetryPeriod; a change of error is logged again.
func TestAPIErrorsAreLoggedOnceAndBackOff(t *testing.T) {
	forbidden := apierrors.NewForbidden(cmGR, testName, errors.New(`User "system:serviceaccount:default:app" cannot get resource "configmaps"`))

	for _, tc := range []struct {
		name   string
		jitter float64
		want   []time.Duration
	}{
		// Waits of 1, 2, 4, 8, 16, 16 RetryPeriods.
		{"no jitter", 0, []time.Duration{0, 1000, 3000, 7000, 15000, 31000, 47000, 63000}},
		// The jittered 1.1s is longer than the first backoff.
		{"jitter longer than the first backoff", 0.5, []time.Duration{0, 1100, 3100, 7100, 15100, 31100, 47100, 63100}},
	} {
		t.Run("forbidden/"+tc.name, func(t *testing.T) {
			s := newSim(t)
			var on atomic.Bool
			on.Store(true)
			s.failWhile("*", &on, forbidden)
			a := s.candidate("A", jitter(tc.jitter))
			a.start()
			unit := time.Millisecond
			var want []string
			for _, at := range tc.want {
				want = append(want, ev(at*unit, "get -> Forbidden"))
			}
			last := tc.want[len(tc.want)-1] * unit
			s.advanceTo(last + 15*time.Second)
			assertEvents(t, "API calls", a.apiEvents(), want)
			assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to acquire lease"})

			on.Store(false) // RBAC fixed: the next attempt, 16s on, succeeds
			s.advanceTo(last + 16*time.Second)
			assertEvents(t, "API calls", a.apiEvents(), append(want, created(last+16*time.Second, "A")...))
		})
	}

	t.Run("namespace missing", func(t *testing.T) {
		s := newSim(t)
		s.react("create", func(k8stesting.Action) error { return apierrors.NewNotFound(nsGR, testNamespace) })
		a := s.candidate("A")
		a.start()
		s.advanceTo(20 * time.Second)
		var want []string
		for _, at := range []time.Duration{0, 1, 3, 7, 15} {
			want = append(want, ev(at*time.Second, "get -> NotFound"), ev(at*time.Second, "create(A) -> NotFound"))
		}
		assertEvents(t, "API calls", a.apiEvents(), want)
		assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to acquire lease"})
	})

	t.Run("transport error", func(t *testing.T) {
		s := newSim(t)
		var on atomic.Bool
		on.Store(true)
		s.failWhile("get", &on, errTransport)
		a := s.candidate("A", jitter(0.5))
		a.start()
		s.advanceTo(11 * time.Second)
		assertEvents(t, "API calls", a.apiEvents(), seq(0, 11*time.Second, sec(1.1), "get -> error"))
		assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to acquire lease"})
	})

	t.Run("forbidden, held by another, forbidden", func(t *testing.T) {
		// A successful read ends the error streak: the next error is
		// logged again and backs off from one RetryPeriod.
		s := newSim(t, withRecord(pyRecord("B", "60", "2030-01-15 12:00:00", "2030-01-15 12:00:00")))
		var on atomic.Bool
		on.Store(true)
		s.failWhile("get", &on, forbidden)
		a := s.candidate("A")
		a.start()
		s.advanceTo(4 * time.Second) // attempts at 0s, 1s, 3s; the next at 7s
		on.Store(false)
		s.advanceTo(sec(7.5))
		on.Store(true)
		s.advanceTo(20 * time.Second)
		assertEvents(t, "API calls", a.apiEvents(), []string{
			"0s get -> Forbidden", "1s get -> Forbidden", "3s get -> Forbidden",
			"7s get",
			"8s get -> Forbidden", "9s get -> Forbidden", "11s get -> Forbidden", "15s get -> Forbidden",
		})
		assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to acquire lease", "failed to acquire lease"})
	})

	t.Run("forbidden then transport error", func(t *testing.T) {
		s := newSim(t)
		var mode atomic.Int32 // 0 forbidden, 1 transport
		s.react("get", func(k8stesting.Action) error {
			if mode.Load() == 0 {
				return forbidden
			}
			return errTransport
		})
		a := s.candidate("A")
		a.start()
		s.advanceTo(4 * time.Second) // attempts at 0s, 1s, 3s; the next at 7s
		mode.Store(1)
		s.advanceTo(10 * time.Second)
		assertEvents(t, "API calls", a.apiEvents(), cat(
			[]string{"0s get -> Forbidden", "1s get -> Forbidden", "3s get -> Forbidden"},
			seq(7*time.Second, 10*time.Second, time.Second, "get -> error"),
		))
		assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to acquire lease", "failed to acquire lease"})
	})
}

// A ConfigMap deleted while another candidate validly held it is not
// recreated before the lease observed runs out.
func TestDeletedLockNotRecreatedBeforeObservedLeaseEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lease   string
		renewAt time.Duration // B renews then, if not 0
		delAt   time.Duration
		want    time.Duration
	}{
		{"lease 5s", "5", 0, sec(0.5), 5 * time.Second},
		{"record lease 8s", "8", 0, sec(0.5), 8 * time.Second},
		{"renewed then deleted", "5", sec(2.5), sec(3.5), 8 * time.Second}, // renewal seen at 3s
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, withRecord(pyRecord("B", tc.lease, "2030-01-15 12:00:00", "2030-01-15 12:00:00")))
			a := s.candidate("A")
			a.start()
			if tc.renewAt != 0 {
				s.advanceTo(tc.renewAt)
				s.setAnnotation(pyRecord("B", tc.lease, "2030-01-15 12:00:00", "2030-01-15 12:00:02.500000"))
			}
			s.advanceTo(tc.delAt)
			s.deleteConfigMap()
			s.advanceTo(tc.want)

			firstMissing := tc.delAt.Truncate(time.Second) + time.Second
			assertEvents(t, "API calls", a.apiEvents(), cat(
				seq(0, firstMissing-time.Second, time.Second, "get"),
				seq(firstMissing, tc.want-time.Second, time.Second, "get -> NotFound"),
				created(tc.want, "A"),
			))
			assertRecord(t, s.mustRecord(), "A", 5*time.Second, tc.want, tc.want)
		})
	}
}

// OnNewLeader is called once per change of holder, in order, from a single
// goroutine; GetLeader and IsLeader follow the state.
func TestOnNewLeaderAndState(t *testing.T) {
	s := newSim(t, withRecord(pyRecord("B", "5", "2030-01-15 12:00:00", "2030-01-15 12:00:00")))
	a := s.candidate("A")
	a.start()
	s.settle()
	a.waitLeaders(1)
	if a.e.IsLeader() || a.e.GetLeader() != "B" {
		t.Errorf("at 0s: IsLeader() = %v, GetLeader() = %q; want false, B", a.e.IsLeader(), a.e.GetLeader())
	}
	s.advanceTo(sec(1.5))
	s.setAnnotation(pyRecord("C", "5", "2030-01-15 12:00:01", "2030-01-15 12:00:01"))
	s.advanceTo(2 * time.Second)
	a.waitLeaders(2)
	if a.e.GetLeader() != "C" {
		t.Errorf("at 2s: GetLeader() = %q, want C", a.e.GetLeader())
	}
	// C renews twice: no new leader, but the lease restarts (seen at 5s).
	s.advanceTo(sec(3.5))
	s.setAnnotation(pyRecord("C", "5", "2030-01-15 12:00:01", "2030-01-15 12:00:03"))
	s.advanceTo(sec(4.5))
	s.setAnnotation(pyRecord("C", "5", "2030-01-15 12:00:01", "2030-01-15 12:00:04"))
	s.advanceTo(9 * time.Second)
	if a.e.IsLeader() || a.e.GetLeader() != "C" {
		t.Errorf("at 9s: IsLeader() = %v, GetLeader() = %q; want false, C", a.e.IsLeader(), a.e.GetLeader())
	}
	s.advanceTo(12 * time.Second)
	if !a.e.IsLeader() || a.e.GetLeader() != "A" {
		t.Errorf("at 12s: IsLeader() = %v, GetLeader() = %q; want true, A", a.e.IsLeader(), a.e.GetLeader())
	}
	assertEvents(t, "leadership", a.lifeEvents(), []string{"10s started"})
	a.stop()
	if a.e.IsLeader() || a.e.GetLeader() != "A" {
		t.Errorf("after Run: IsLeader() = %v, GetLeader() = %q; want false, A", a.e.IsLeader(), a.e.GetLeader())
	}
	assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"B", "C", "A"})
	if len(a.leaderGIDs) != 1 {
		t.Errorf("OnNewLeader ran on %d goroutines, want 1", len(a.leaderGIDs))
	}
}

// A slow OnNewLeader delays neither renewals nor the loss of leadership, is
// still called in order, and Run waits for it.
func TestSlowOnNewLeader(t *testing.T) {
	s := newSim(t, withRecord(""))
	unblock := make(chan struct{})
	var once sync.Once
	a := s.candidate("A", onNewLeader(func(string) { once.Do(func() { <-unblock }) }))
	a.start()
	s.advanceTo(sec(2.5))
	s.setAnnotation(pyRecord("intruder", "5", "2030-01-15 12:00:02", "2030-01-15 12:00:02"))
	s.advanceTo(3 * time.Second)
	assertEvents(t, "API calls", a.apiEvents(), cat(
		acquired(0, "A"),
		renewals(time.Second, 2*time.Second, "A"),
		[]string{"3s update(A) -> Conflict", "3s get"},
	))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "3s stopped"})
	select {
	case <-a.done:
		t.Fatal("Run returned while OnNewLeader was still running")
	case <-time.After(50 * time.Millisecond):
	}
	if got := a.newLeaders(); len(got) != 1 {
		t.Errorf("OnNewLeader calls %q while the first is blocked", got)
	}
	close(unblock)
	if err := a.wait(); !errors.Is(err, ErrLeadershipLost) {
		t.Errorf("Run() = %v", err)
	}
	assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"A", "intruder"})
}

// A second Run while one runs returns ErrRunning without any API call; Run
// may run again once the first returned.
func TestRunWhileRunning(t *testing.T) {
	s := newSim(t)
	a := s.candidate("A")
	a.start()
	s.advanceTo(time.Second)
	calls := s.actions()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	second := make(chan error, 1)
	go func() { second <- a.e.Run(ctx) }()
	select {
	case err := <-second:
		if !errors.Is(err, ErrRunning) {
			t.Errorf("second Run() = %v, want ErrRunning", err)
		}
	case <-time.After(realTimeout):
		cancel()
		t.Fatal("second Run() did not return")
	}
	if n := s.actions(); n != calls {
		t.Errorf("second Run made %d API calls", n-calls)
	}
	if !a.e.IsLeader() {
		t.Error("second Run disturbed the first")
	}
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v", err)
	}

	// Run again: the record still names A, which renews it at once, keeping
	// acquireTime, as Python's candidate does with its own record.
	s.advanceTo(sec(1.5))
	a.start()
	s.advanceTo(sec(2.5))
	assertEvents(t, "API calls", a.apiEvents(), cat(
		created(0, "A"),
		renewals(time.Second, time.Second, "A"),
		acquired(sec(1.5), "A"),
		renewals(sec(2.5), sec(2.5), "A"),
	))
	assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, sec(2.5))
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "1s stopped", "1.5s started"})
	a.stop()
	// The second Run saw no change of holder.
	assertEvents(t, "OnNewLeader", a.newLeaders(), []string{"A"})
}

// Without OnStoppedLeading, the loop logs that it stopped leading, as
// Python's default callback does.
func TestDefaultOnStoppedLeadingLogs(t *testing.T) {
	s := newSim(t)
	a := s.candidate("A", nilOnStopped())
	a.start()
	s.settle()
	s.jump(5 * time.Second)
	if err := a.wait(); !errors.Is(err, ErrLeadershipLost) {
		t.Errorf("Run() = %v", err)
	}
	found := false
	for _, m := range a.logs.infos(0) {
		found = found || m == "stopped leading"
	}
	if !found {
		t.Errorf("no Info log \"stopped leading\" in %v", a.logs.all())
	}
}

// A follower cancelled before it ever led writes nothing, even with
// ReleaseOnCancel, and calls neither leadership callback.
func TestCancelledFollowerWritesNothing(t *testing.T) {
	raw := pyRecord("B", "5", "2030-01-15 12:00:00", "2030-01-15 12:00:00")
	s := newSim(t, withRecord(raw))
	a := s.candidate("A", releaseOnCancel())
	a.start()
	s.advanceTo(sec(2.5))
	calls := s.actions()
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	if n := s.actions(); n != calls {
		t.Errorf("%d API calls after cancel, want none", n-calls)
	}
	if got := s.raw(); got != raw {
		t.Errorf("record = %q, want it untouched", got)
	}
	assertEvents(t, "leadership", a.lifeEvents(), nil)
	assertEvents(t, "API calls", a.apiEvents(), seq(0, 2*time.Second, time.Second, "get"))
}

// A release that gets a 409 reads the record again: if it still names this
// leader (its last renewal was applied but the answer lost), the release is
// written over that version, once; if it names another holder, nothing is
// written. Either way Run returns ctx.Err() and a failure is logged once.
func TestFailedReleaseIsNotRetried(t *testing.T) {
	t.Run("still ours: one more try", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		s.react("update", func(act k8stesting.Action) error {
			if writtenHolder(act.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)) == "" {
				return errConflict
			}
			return nil
		})
		a := s.candidate("A", releaseOnCancel())
		a.start()
		s.advanceTo(sec(2.5))
		if err := a.stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v, want context.Canceled", err)
		}
		assertEvents(t, "API calls", a.apiEvents(), cat(
			acquired(0, "A"),
			renewals(time.Second, 2*time.Second, "A"),
			[]string{"2.5s update() -> Conflict", "2.5s get", "2.5s update() -> Conflict"},
		))
		assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to release lease"})
		assertRecord(t, s.mustRecord(), "A", 5*time.Second, 0, 2*time.Second)
	})
	t.Run("taken by another: no write", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		a := s.candidate("A", releaseOnCancel())
		a.start()
		s.advanceTo(sec(2.5))
		intruder := pyRecord("B", "5", "2026-11-22 10:00:00", "2026-11-22 10:00:02")
		s.setAnnotation(intruder)
		if err := a.stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v, want context.Canceled", err)
		}
		assertEvents(t, "API calls", a.apiEvents(), cat(
			acquired(0, "A"),
			renewals(time.Second, 2*time.Second, "A"),
			[]string{"2.5s update() -> Conflict", "2.5s get"},
		))
		assertEvents(t, "logged errors", a.logs.errors(), []string{"failed to release lease"})
		if got := s.raw(); got != intruder {
			t.Errorf("record = %q, want the intruder's untouched", got)
		}
	})
}

// In the client-go dialect, which keeps leaderTransitions, a takeover counts
// one more transition and a renewal keeps the count.
func TestLeaderTransitionsInClientGoDialect(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		at   time.Duration
		want int
	}{
		{"takeover", `{"holderIdentity":"B","leaseDurationSeconds":5,"acquireTime":"2030-01-15T11:00:00Z","renewTime":"2030-01-15T11:59:59Z","leaderTransitions":7}`, 5 * time.Second, 8},
		{"released", `{"holderIdentity":"","leaseDurationSeconds":5,"acquireTime":"2030-01-15T11:00:00Z","renewTime":"2030-01-15T11:59:59Z","leaderTransitions":3}`, 0, 4},
		{"own record", `{"holderIdentity":"A","leaseDurationSeconds":5,"acquireTime":"2030-01-15T11:00:00Z","renewTime":"2030-01-15T11:59:59Z","leaderTransitions":5}`, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, withRecord(tc.raw))
			a := s.candidate("A", dialect(record.ClientGo))
			a.start()
			s.advanceTo(tc.at)
			if rec := s.mustRecord(); rec.HolderIdentity != "A" || rec.LeaderTransitions != tc.want {
				t.Errorf("at %v: record %+v, want held by A after %d transitions", s.at(), rec, tc.want)
			}
			s.advanceTo(tc.at + 2*time.Second)
			if rec := s.mustRecord(); rec.HolderIdentity != "A" || rec.LeaderTransitions != tc.want {
				t.Errorf("at %v: renewed record %+v, want %d transitions", s.at(), rec, tc.want)
			}
		})
	}
}
