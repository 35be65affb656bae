package electionloop

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"

	"github.com/kubepy/leaderelection/config"
)

// New refuses configurations Python refuses, naming each violation, and
// returns no Elector then.
func TestNewRejectsInvalidConfig(t *testing.T) {
	valid := func() config.Config {
		return config.Config{
			Lock:          newMockResourceLock("A", &mockStore{}, nil, nil, nil, nil),
			LeaseDuration: 15 * time.Second,
			RenewDeadline: 10 * time.Second,
			RetryPeriod:   2 * time.Second,
			Callbacks:     config.Callbacks{OnStartedLeading: func(context.Context) {}},
		}
	}
	e, err := New(valid())
	if err != nil || e == nil {
		t.Fatalf("New(valid) = %v, %v", e, err)
	}
	if _, ok := e.clock.(clock.RealClock); !ok {
		t.Errorf("nil Clock became %T, want clock.RealClock", e.clock)
	}

	for _, tc := range []struct {
		name   string
		modify func(*config.Config)
		want   []string // fields at fault, in order
	}{
		{"no lock", func(c *config.Config) { c.Lock = nil }, []string{"Lock"}},
		{"empty identity", func(c *config.Config) { c.Lock = newMockResourceLock("", &mockStore{}, nil, nil, nil, nil) }, []string{"Lock.Identity"}},
		{"lease not above renew deadline", func(c *config.Config) { c.LeaseDuration = c.RenewDeadline }, []string{"LeaseDuration"}},
		{"renew deadline within jittered retry", func(c *config.Config) { c.RetryPeriod = 9 * time.Second }, []string{"RenewDeadline"}},
		{"retry period under a second", func(c *config.Config) { c.RetryPeriod = 500 * time.Millisecond }, []string{"RetryPeriod"}},
		{"no OnStartedLeading", func(c *config.Config) { c.Callbacks.OnStartedLeading = nil }, []string{"Callbacks.OnStartedLeading"}},
		{"all at once", func(c *config.Config) {
			*c = config.Config{LeaseDuration: time.Second, RenewDeadline: time.Second, RetryPeriod: time.Second}
		}, []string{"Lock", "LeaseDuration", "RenewDeadline", "Callbacks.OnStartedLeading"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.modify(&cfg)
			e, err := New(cfg)
			if err == nil || e != nil {
				t.Fatalf("New() = %v, %v; want an error", e, err)
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("New() error %q holds no *config.FieldError", err)
			}
			var fields []string
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("New() error %T is not a joined error", err)
			}
			for _, e := range joined.Unwrap() {
				if errors.As(e, &fe) {
					fields = append(fields, fe.Field)
				}
			}
			assertEvents(t, "fields at fault", fields, tc.want)
		})
	}
}

// errorReport: persistent errors back off 1, 2, 4, 8, 16, 16 RetryPeriods
// (never less than the jittered wait); others wait as given; an error is
// logged once until it changes; lost races are never logged as errors.
func TestErrorReport(t *testing.T) {
	sink := &logSink{}
	logger := logr.New(sink)
	forbidden := apierrors.NewForbidden(cmGR, testName, errors.New("no"))
	const rp = time.Second

	var r errorReport
	var got []time.Duration
	for range 7 {
		got = append(got, r.failed(logger, forbidden, sec(1.1), rp))
	}
	want := []time.Duration{sec(1.1), 2 * rp, 4 * rp, 8 * rp, 16 * rp, 16 * rp, 16 * rp}
	if !equalDurations(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	assertEvents(t, "errors after 7 identical failures", sink.errors(), []string{"failed to acquire lease"})

	// A transport error: logged (it differs), waits as given, and ends the
	// backoff streak.
	if w := r.failed(logger, errTransport, sec(1.1), rp); w != sec(1.1) {
		t.Errorf("transport error wait %v, want 1.1s", w)
	}
	if w := r.failed(logger, forbidden, rp, rp); w != rp {
		t.Errorf("first persistent error after a transient one waits %v, want 1s", w)
	}
	// Conflicts are races, not errors, and do not back off.
	if w := r.failed(logger, errConflict, sec(1.1), rp); w != sec(1.1) {
		t.Errorf("conflict wait %v, want 1.1s", w)
	}
	if w := r.failed(logger, apierrors.NewAlreadyExists(cmGR, testName), sec(1.1), rp); w != sec(1.1) {
		t.Errorf("already-exists wait %v, want 1.1s", w)
	}
	assertEvents(t, "errors", sink.errors(), []string{"failed to acquire lease", "failed to acquire lease", "failed to acquire lease"})

	r.reset()
	if w := r.failed(logger, forbidden, rp, rp); w != rp {
		t.Errorf("after reset: wait %v, want 1s", w)
	}
	if n := len(sink.errors()); n != 4 {
		t.Errorf("after reset the same error is logged again: %d errors, want 4", n)
	}

	for _, err := range []error{
		apierrors.NewForbidden(cmGR, "x", errors.New("no")),
		apierrors.NewUnauthorized("no"),
		apierrors.NewNotFound(nsGR, "x"),
		apierrors.NewBadRequest("no"),
		apierrors.NewMethodNotSupported(cmGR, "update"),
		apierrors.NewRequestEntityTooLargeError("too big"),
	} {
		if !persistent(err) {
			t.Errorf("persistent(%v) = false", err)
		}
	}
	for _, err := range []error{errTransport, errConflict, apierrors.NewServiceUnavailable("later"), apierrors.NewTooManyRequests("slow", 1), apierrors.NewInternalError(errors.New("x")), context.DeadlineExceeded} {
		if persistent(err) {
			t.Errorf("persistent(%v) = true", err)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The notifier delivers in order from one goroutine, delivers what is queued
// before stop returns, and starts no goroutine without a callback.
func TestNotifier(t *testing.T) {
	t.Run("order and stop", func(t *testing.T) {
		var got []string
		gids := map[string]bool{}
		release := make(chan struct{})
		n := startNotifier(func(id string) {
			if len(got) == 0 {
				<-release // a slow first call: the rest queues up
			}
			got = append(got, id)
			gids[goroutineID()] = true
		})
		var want []string
		for i := range 100 {
			id := string(rune('a'+i%26)) + strings.Repeat("!", i/26)
			want = append(want, id)
			n.notify(id) // never blocks
		}
		close(release)
		n.stop()
		assertEvents(t, "OnNewLeader", got, want)
		if len(gids) != 1 {
			t.Errorf("called from %d goroutines", len(gids))
		}
		if g := waitNoPackageGoroutines(); g != "" {
			t.Errorf("notifier goroutine left after stop:\n%s", g)
		}
	})
	t.Run("no callback", func(t *testing.T) {
		n := startNotifier(nil)
		if g := packageGoroutines(); g != "" {
			t.Errorf("goroutine started without a callback:\n%s", g)
		}
		n.notify("A")
		n.stop()
	})
}

// After Run returns, however it ended, no goroutine is left behind.
func TestNoGoroutinesLeftAfterRun(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("lost", func(t *testing.T) {
		s := newSim(t)
		a := s.candidate("A")
		a.start()
		s.jump(10 * time.Second)
		if err := a.wait(); !errors.Is(err, ErrLeadershipLost) {
			t.Errorf("Run() = %v", err)
		}
	})
	t.Run("released", func(t *testing.T) {
		s := newSim(t)
		a := s.candidate("A", releaseOnCancel())
		a.start()
		s.advance(2 * time.Second)
		a.stop()
	})
	t.Run("follower cancelled", func(t *testing.T) {
		s := newSim(t, withRecord(pyRecord("B", "5", "x", "y")))
		a := s.candidate("A")
		a.start()
		s.advance(2 * time.Second)
		a.stop()
	})
	t.Run("work outlives lease", func(t *testing.T) {
		s := newSim(t)
		a := s.candidate("A", releaseOnCancel(), holdWork())
		a.start()
		s.advance(time.Second)
		a.cancelLeader()
		s.advance(5 * time.Second)
		a.releaseWork()
		a.wait()
	})
	deadline := time.Now().Add(realTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
