package electionloop

// Ports of the three scenarios of the Python client's
// kubernetes/leaderelection/leaderelection_test.py (python3-kubernetes 22.6),
// with a Go twin of its MockResourceLock, its timings (lease_duration 2.5,
// renew_deadline 2, retry_period 1.5) and its expected histories. Python
// sleeps in real time; here the fake clock is stepped, so each entry's time
// is asserted too.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/record"
)

// mockStore is MockResourceLock.leader_record, the list that Python's
// test_leader_election shares between two locks
// (mock_lock_B.leader_record = mock_lock_A.leader_record), guarded by the
// shared thread_lock.
type mockStore struct {
	mu      sync.Mutex
	records []record.Record
}

// mockResourceLock is MockResourceLock: get returns the record or a 404,
// create fails when a record exists, update calls on_try_update, fails once
// renew_count reaches renew_count_max, and else replaces the record, calls
// on_update, and on_change when the holder changed.
type mockResourceLock struct {
	store         *mockStore
	identity      string
	renewCount    int
	renewCountMax int
	onCreate      func()
	onUpdate      func()
	onChange      func()
	onTryUpdate   func() // nil as in Python's on_try_update=None
}

var errMockUpdate = errors.New("mock: update failed")

var _ config.Lock = (*mockResourceLock)(nil)

func newMockResourceLock(identity string, store *mockStore, onCreate, onUpdate, onChange, onTryUpdate func()) *mockResourceLock {
	return &mockResourceLock{store: store, identity: identity, renewCountMax: 4,
		onCreate: onCreate, onUpdate: onUpdate, onChange: onChange, onTryUpdate: onTryUpdate}
}

func (m *mockResourceLock) Get(context.Context) (record.Record, string, error) {
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	if len(m.store.records) > 0 {
		rec := m.store.records[0]
		return rec, record.Python.Encode(rec), nil
	}
	return record.Record{}, "", apierrors.NewNotFound(cmGR, "mock")
}

func (m *mockResourceLock) Create(_ context.Context, rec record.Record) error {
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	if len(m.store.records) == 1 {
		return apierrors.NewAlreadyExists(cmGR, "mock")
	}
	m.store.records = append(m.store.records, rec)
	m.onCreate()
	m.renewCount++
	return nil
}

func (m *mockResourceLock) Update(_ context.Context, rec record.Record) error {
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	if m.onTryUpdate != nil {
		m.onTryUpdate()
	}
	if m.renewCount >= m.renewCountMax {
		return errMockUpdate
	}
	old := m.store.records[0]
	m.store.records[0] = rec
	m.onUpdate()
	if old.HolderIdentity != rec.HolderIdentity {
		m.onChange()
	}
	m.renewCount++
	return nil
}

func (m *mockResourceLock) Identity() string { return m.identity }
func (m *mockResourceLock) Describe() string { return "mock_namespace/mock" }

// history is one of Python's election_history or leadership_history lists,
// with the fake time of each entry alongside.
type history struct {
	mu      sync.Mutex
	entries []string
	timed   []string
}

func (h *history) add(s *sim, entry string) {
	h.mu.Lock()
	h.entries = append(h.entries, entry)
	h.timed = append(h.timed, s.stamp("%s", entry))
	h.mu.Unlock()
}

func (h *history) get() (entries, timed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.entries...), append([]string(nil), h.timed...)
}

// pythonCandidate is a candidate configured as Python's tests configure
// theirs: Config(lock, lease_duration=2.5, renew_deadline=2,
// retry_period=1.5, ...). Python's onstarted_leading functions return at
// once, and so does this one.
func pythonCandidate(s *sim, lock *mockResourceLock, started, stopped func()) *runner {
	return s.candidate(lock.identity, withLock(lock),
		timing(sec(2.5), 2*time.Second, sec(1.5)),
		workReturnsAtOnce(), onStarted(started), onStopped(stopped))
}

// assertHistory is Python's assert_history: same length, same entries.
func assertHistory(t *testing.T, what string, h *history, want, wantTimed []string) {
	t.Helper()
	entries, timed := h.get()
	assertEvents(t, what, entries, want)
	assertEvents(t, what+" with fake times", timed, wantTimed)
}

// test_simple_leader_election: one candidate creates the record, renews it
// three times (renew_count_max 4 counts the creation) and stops leading when
// the fourth update fails.
func TestPythonSimpleLeaderElection(t *testing.T) {
	s := newSim(t)
	var election, leadership history
	mockLock := newMockResourceLock("mock", &mockStore{},
		func() { election.add(s, "create record"); leadership.add(s, "get leadership") },
		func() { election.add(s, "update record") },
		func() { election.add(s, "change record") },
		nil)
	c := pythonCandidate(s, mockLock,
		func() { leadership.add(s, "start leading") },
		func() { leadership.add(s, "stop leading") })

	c.start()
	s.advanceUntilDone(c, time.Minute)
	if err := c.wait(); !errors.Is(err, ErrLeadershipLost) || !errors.Is(err, errMockUpdate) {
		t.Errorf("Run() = %v, want ErrLeadershipLost wrapping the failed update", err)
	}

	assertHistory(t, "election history", &election,
		[]string{"create record", "update record", "update record", "update record"},
		// Creation, then the first renewal at once, then one every
		// retry_period. The update at 4.5s fails; Python retries at 6s
		// too, Go stops at the last renewal + renew_deadline = 5s.
		[]string{"0s create record", "0s update record", "1.5s update record", "3s update record"})
	assertHistory(t, "leadership history", &leadership,
		[]string{"get leadership", "start leading", "stop leading"},
		[]string{"0s get leadership", "0s start leading", "5s stop leading"})
}

// test_leader_election: A runs to completion (Python calls run() directly in
// the thread constructor's argument), then B, sharing A's record. B waits
// lease_duration after it first saw A's record, then takes it over.
func TestPythonLeaderElection(t *testing.T) {
	s := newSim(t)
	var election, leadership history
	store := &mockStore{}

	mockLockA := newMockResourceLock("MockA", store,
		func() { election.add(s, "A creates record"); leadership.add(s, "A gets leadership") },
		func() { election.add(s, "A updates record") },
		func() { election.add(s, "A gets leadership") },
		nil)
	mockLockA.renewCountMax = 3
	a := pythonCandidate(s, mockLockA,
		func() { leadership.add(s, "A starts leading") },
		func() { leadership.add(s, "A stops leading") })

	mockLockB := newMockResourceLock("MockB", store,
		func() { election.add(s, "B creates record"); leadership.add(s, "B gets leadership") },
		func() { election.add(s, "B updates record") },
		func() { leadership.add(s, "B gets leadership") },
		nil)
	mockLockB.renewCountMax = 4
	b := pythonCandidate(s, mockLockB,
		func() { leadership.add(s, "B starts leading") },
		func() { leadership.add(s, "B stops leading") })

	a.start()
	s.advanceUntilDone(a, time.Minute)
	b.start()
	s.advanceUntilDone(b, time.Minute)
	for _, c := range []*runner{a, b} {
		if err := c.wait(); !errors.Is(err, ErrLeadershipLost) {
			t.Errorf("%s: Run() = %v, want ErrLeadershipLost", c.id, err)
		}
	}

	assertHistory(t, "election history", &election,
		[]string{
			"A creates record",
			"A updates record",
			"A updates record",
			"B updates record",
			"B updates record",
			"B updates record",
			"B updates record",
		},
		// A's third update fails at 3s and A stops at 1.5s + 2s (Python:
		// 6s). B starts at 3.5s, first sees A's record then, and takes it
		// at its first attempt from 3.5s + 2.5s on.
		[]string{
			"0s A creates record",
			"0s A updates record",
			"1.5s A updates record",
			"6.5s B updates record",
			"6.5s B updates record",
			"8s B updates record",
			"9.5s B updates record",
		})
	assertHistory(t, "leadership history", &leadership,
		[]string{
			"A gets leadership",
			"A starts leading",
			"A stops leading",
			"B gets leadership",
			"B starts leading",
			"B stops leading",
		},
		[]string{
			"0s A gets leadership",
			"0s A starts leading",
			"3.5s A stops leading",
			"6.5s B gets leadership",
			"6.5s B starts leading",
			"11.5s B stops leading",
		})
	assertEvents(t, "B's OnNewLeader", b.newLeaders(), []string{"MockA", "MockB"})
}

// test_Leader_election_with_renew_deadline: the leader stops once updates
// fail for renew_deadline.
//
// Documented difference: Python's history has two failed tries at the end,
// Go's one. Python restarts its renew_deadline timer at the start of every
// renewal round, so after the last success at 1.5s it tries at 3s and 4.5s
// and stops at 6s: it goes on leading 4.5s after its last renewal, although
// a follower may take over after lease_duration, 2.5s (at 4s). Go measures
// RenewDeadline from the last successful renewal (doc.go): it tries at 3s,
// stops at 1.5s + 2s = 3.5s and never tries at 4.5s.
func TestPythonLeaderElectionWithRenewDeadline(t *testing.T) {
	s := newSim(t)
	var election, leadership history
	mockLock := newMockResourceLock("mock", &mockStore{},
		func() { election.add(s, "create record"); leadership.add(s, "get leadership") },
		func() { election.add(s, "update record") },
		func() { election.add(s, "change record") },
		func() { election.add(s, "try update record") })
	mockLock.renewCountMax = 3
	c := pythonCandidate(s, mockLock,
		func() { leadership.add(s, "start leading") },
		func() { leadership.add(s, "stop leading") })

	c.start()
	s.advanceUntilDone(c, time.Minute)
	if err := c.wait(); !errors.Is(err, ErrLeadershipLost) {
		t.Errorf("Run() = %v, want ErrLeadershipLost", err)
	}

	python := []string{
		"create record",
		"try update record",
		"update record",
		"try update record",
		"update record",
		"try update record",
		"try update record",
	}
	// Go has Python's history without the last try (see above).
	assertHistory(t, "election history", &election, python[:len(python)-1],
		[]string{
			"0s create record",
			"0s try update record",
			"0s update record",
			"1.5s try update record",
			"1.5s update record",
			"3s try update record",
		})
	assertHistory(t, "leadership history", &leadership,
		[]string{"get leadership", "start leading", "stop leading"},
		[]string{"0s get leadership", "0s start leading", "3.5s stop leading"})
}
