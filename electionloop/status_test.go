package electionloop

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const tolerance = 2 * time.Second

// assertHealthy checks Check and ServeHTTP of a healthy candidate.
func assertHealthy(t *testing.T, s *sim, h *HealthCheck) {
	t.Helper()
	if err := h.Check(nil); err != nil {
		t.Errorf("at %v: Check() = %v, want healthy", s.at(), err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Errorf("at %v: GET /healthz = %d %q, want 200 ok", s.at(), rec.Code, rec.Body.String())
	}
}

func assertStatus(t *testing.T, s *sim, e *Elector, want Status) {
	t.Helper()
	if got := e.Status(); got != want {
		t.Errorf("at %v: Status() = %+v, want %+v", s.at(), got, want)
	}
}

// Status and the health check of a follower and of a working leader: always
// healthy, since a leader whose renewals fail stops leading at RenewDeadline,
// before LeaseDuration.
func TestStatusAndHealthCheckWhileWorking(t *testing.T) {
	t.Run("following", func(t *testing.T) {
		s := newSim(t, withRecord(pyAt("P", "60", 0)))
		b := s.candidate("B")
		h := NewHealthCheck(b.e, tolerance)
		if h.Name() != "leaderElection" {
			t.Errorf("Name() = %q", h.Name())
		}
		assertStatus(t, s, b.e, Status{})
		assertHealthy(t, s, h)
		b.start()
		for at := time.Duration(0); at <= 20*time.Second; at += sec(0.5) {
			s.advanceTo(at)
			assertStatus(t, s, b.e, Status{Leader: "P"})
			assertHealthy(t, s, h)
		}
	})

	t.Run("renewing", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		a := s.candidate("A")
		h := NewHealthCheck(a.e, tolerance)
		a.start()
		for at := time.Duration(0); at <= 20*time.Second; at += sec(0.5) {
			s.advanceTo(at)
			assertStatus(t, s, a.e, Status{Leading: true, Leader: "A", LastRenewal: t0.Add(at.Truncate(time.Second))})
			assertHealthy(t, s, h)
		}
	})

	t.Run("renewals failing", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		var on atomic.Bool
		s.failWhile("update", &on, errTransport)
		a := s.candidate("A")
		h := NewHealthCheck(a.e, tolerance)
		a.start()
		s.advanceTo(sec(1.5))
		on.Store(true)
		for at := sec(1.5); at <= 10*time.Second; at += quantum {
			s.advanceTo(at)
			assertHealthy(t, s, h)
		}
		assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "4s stopped"})
		assertStatus(t, s, a.e, Status{Leader: "A", LastRenewal: t0.Add(time.Second)})
	})
}

// A leader whose loop is stuck, here in a Lock.Update that ignores its
// context (the loop gives each attempt a context that ends at RenewDeadline,
// which a Lock must honour; one that does not, or a frozen process, is what
// the health check is for), still reports Leading: the check fails once the
// last renewal is older than LeaseDuration + tolerance, and passes again
// once the loop has stopped leading.
func TestHealthCheckFailsWhenLeaderIsStuck(t *testing.T) {
	s := newSim(t)
	l := newScriptLock(s, "A", "", false)
	var (
		stuck   atomic.Bool
		entered = make(chan struct{})
		unblock = make(chan struct{})
		once    sync.Once
	)
	release := func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release) // before the harness cancels A
	l.onUpdate = func() {
		if stuck.Load() {
			close(entered)
			<-unblock // ignores the context
		}
	}
	a := s.candidate("A", withLock(l))
	h := NewHealthCheck(a.e, tolerance)
	a.start()
	s.advanceTo(2*time.Second - quantum) // acquired at 0s, renewed at 0s and 1s
	stuck.Store(true)
	s.clk.Step(quantum) // the renewal at 2s hangs
	select {
	case <-entered:
	case <-time.After(realTimeout):
		t.Fatal("the renewal at 2s did not start")
	}

	// Frozen in the renewal that started at 2s: nothing moves but the clock.
	stale := Status{Leading: true, Leader: "A", LastRenewal: t0.Add(time.Second)}
	assertStatus(t, s, a.e, stale)
	assertHealthy(t, s, h)
	s.clk.Step(6 * time.Second) // 8s: the last renewal is exactly lease + tolerance old
	assertStatus(t, s, a.e, stale)
	assertHealthy(t, s, h)
	s.clk.Step(time.Millisecond)
	assertStatus(t, s, a.e, stale)
	err := h.Check(nil)
	const msg = "electionloop: leading default/lock but the last renewal was 7.001s ago, more than the lease and tolerance (7s)"
	if err == nil || err.Error() != msg {
		t.Errorf("Check() = %v, want %q", err, msg)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusInternalServerError || strings.TrimSpace(rec.Body.String()) != msg {
		t.Errorf("GET /healthz = %d %q, want 500 %q", rec.Code, rec.Body.String(), msg)
	}

	// The renewal returns, failed: the loop sees its deadline passed and
	// stops leading; the check passes again.
	l.mu.Lock()
	l.updateErr = errTransport
	l.mu.Unlock()
	stuck.Store(false)
	release()
	s.advanceUntilDone(a, 5*time.Second)
	if err := a.wait(); !errors.Is(err, ErrLeadershipLost) || !errors.Is(err, errTransport) {
		t.Errorf("Run() = %v, want ErrLeadershipLost wrapping the renewal's error", err)
	}
	assertEvents(t, "lock calls", l.history(), []string{
		"0s get -> no record", "0s update(A)", "0s update(A)", "1s update(A)",
		"8.001s update(A) -> error", // returned at 8.001s
	})
	// It then waits until its deadline, already past: a real timer fires
	// at once, the fake one at the next step of the clock, 10ms on.
	assertEvents(t, "leadership", a.lifeEvents(), []string{"0s started", "8.011s stopped"})
	assertStatus(t, s, a.e, Status{Leader: "A", LastRenewal: t0.Add(time.Second)})
	assertHealthy(t, s, h)
}
