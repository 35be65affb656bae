package electionloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8stesting "k8s.io/client-go/testing"
)

// The loop reports to config.Metrics: Leading(true) when it starts leading
// and Leading(false) when it stops, Renewed for every renewal attempt with
// its error, and APIError with the kind of every failed API call.
func TestMetrics(t *testing.T) {
	t.Run("a leader renews, then meets an intruder", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		m := &metricsRecorder{s: s}
		a := s.candidate("A", withMetrics(m))
		a.start()
		s.advanceTo(sec(2.5))
		s.setAnnotation(pyAt("intruder", "5", sec(2.5)))
		s.advanceTo(3 * time.Second)
		a.wait()
		assertEvents(t, "metrics", m.history(), []string{
			"0s leading=true", "0s renewed",
			"1s renewed", "2s renewed",
			"3s api error conflict", "3s renewal failed: held by another",
			"3s leading=false",
		})
	})

	t.Run("renewals fail until the deadline", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		var on atomic.Bool
		s.failWhile("update", &on, forbidden)
		m := &metricsRecorder{s: s}
		a := s.candidate("A", withMetrics(m))
		a.start()
		s.advanceTo(sec(1.5))
		on.Store(true)
		s.advanceTo(5 * time.Second)
		assertEvents(t, "metrics", m.history(), []string{
			"0s leading=true", "0s renewed",
			"1s renewed",
			"2s renewal failed: forbidden", "2s api error forbidden",
			"3s renewal failed: forbidden", "3s api error forbidden",
			"4s leading=false", // 1s + RenewDeadline: no attempt
		})
		for i, err := range m.errs {
			if (i < 2) != (err == nil) || (err != nil && !apierrors.IsForbidden(err)) {
				t.Errorf("Renewed #%d error %v", i, err)
			}
		}
	})

	t.Run("a follower's errors by kind", func(t *testing.T) {
		s := newSim(t)
		var gets atomic.Int32
		s.react("get", func(k8stesting.Action) error {
			switch gets.Add(1) {
			case 1:
				return forbidden
			case 2:
				return errDial
			}
			return nil
		})
		var once sync.Once
		s.react("create", func(k8stesting.Action) error {
			var err error
			once.Do(func() {
				if e := s.addConfigMap(withRecord(pyAt("P", "5", 2*time.Second))); e != nil {
					t.Errorf("add: %v", e)
				}
				err = apierrors.NewAlreadyExists(cmGR, testName)
			})
			return err
		})
		s.failNext("update", 1, errConflict)
		m := &metricsRecorder{s: s}
		a := s.candidate("A", withMetrics(m))
		a.start()
		s.advanceTo(10 * time.Second)
		assertEvents(t, "API calls", a.apiEvents(), cat(
			[]string{"0s get -> Forbidden", "1s get -> error", "2s get -> NotFound", "2s create(A) -> AlreadyExists"},
			seq(3*time.Second, 7*time.Second, time.Second, "get"), // P's record, first seen at 3s
			[]string{"8s get", "8s update(A) -> Conflict"},
			acquired(9*time.Second, "A"),
			renewals(10*time.Second, 10*time.Second, "A"),
		))
		// The NotFound of the missing lock is no error: it is created.
		assertEvents(t, "metrics", m.history(), []string{
			"0s api error forbidden", "1s api error transport",
			"2s api error already_exists", "8s api error conflict",
			"9s leading=true", "9s renewed", "10s renewed",
		})
	})

	t.Run("a failed release", func(t *testing.T) {
		s := newSim(t, withRecord(""))
		s.react("update", func(act k8stesting.Action) error {
			if writtenHolder(act.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)) == "" {
				return forbidden
			}
			return nil
		})
		m := &metricsRecorder{s: s}
		a := s.candidate("A", withMetrics(m), releaseOnCancel())
		a.start()
		s.advanceTo(sec(1.5))
		a.stop()
		assertEvents(t, "metrics", m.history(), []string{
			"0s leading=true", "0s renewed", "1s renewed",
			"1.5s leading=false", "1.5s api error forbidden",
		})
	})

	t.Run("took is measured on the injected clock", func(t *testing.T) {
		s := newSim(t)
		l := newScriptLock(s, "A", "", false)
		l.onUpdate = func() { s.clk.Step(250 * time.Millisecond) } // each write takes 250ms
		m := &metricsRecorder{s: s}
		a := s.candidate("A", withLock(l), withMetrics(m))
		a.start()
		s.advanceTo(3 * time.Second)
		// Each call is stamped when it returns: acquired at 0s, renewals
		// started at 0.25s, 1.5s and 2.75s.
		assertEvents(t, "lock calls", l.history(), []string{
			"0s get -> no record", "250ms update(A)",
			"500ms update(A)", "1.75s update(A)", "3s update(A)",
		})
		m.mu.Lock()
		defer m.mu.Unlock()
		if len(m.took) != 3 {
			t.Fatalf("%d renewals reported, want 3", len(m.took))
		}
		for i, took := range m.took {
			if took != 250*time.Millisecond {
				t.Errorf("renewal #%d took %v, want 250ms", i, took)
			}
		}
	})
}

// errDial is a transport error as client-go returns it: a *url.Error
// around a *net.OpError, both net.Errors.
var errDial = &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api/v1/namespaces/default/configmaps/lock",
	Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errors.New("connection refused"))}}

// timeoutError is a net.Error, as a dial or read timeout is.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestErrorKind(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errors.New("connection refused"))}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{apierrors.NewConflict(cmGR, testName, errors.New("modified")), "conflict"},
		{fmt.Errorf("configmaplock: update default/lock: %w", apierrors.NewConflict(cmGR, testName, errors.New("modified"))), "conflict"},
		{apierrors.NewAlreadyExists(cmGR, testName), "already_exists"},
		{apierrors.NewNotFound(cmGR, testName), "not_found"},
		{apierrors.NewNotFound(nsGR, testNamespace), "not_found"},
		{apierrors.NewForbidden(cmGR, testName, errors.New("no")), "forbidden"},
		{apierrors.NewUnauthorized("who are you"), "unauthorized"},
		{apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("ConfigMap").GroupKind(), testName, field.ErrorList{field.Invalid(field.NewPath("metadata", "annotations"), "x", "too long")}), "invalid"},
		{apierrors.NewBadRequest("bad"), "invalid"},
		{apierrors.NewRequestEntityTooLargeError("too big"), "too_large"},
		{apierrors.NewTooManyRequests("slow down", 1), "too_many_requests"},
		{apierrors.NewTimeoutError("took too long", 1), "timeout"},
		{apierrors.NewServerTimeout(cmGR, "update", 1), "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("configmaplock: get: %w", context.DeadlineExceeded), "timeout"},
		{&url.Error{Op: "Put", URL: "https://10.96.0.1/api", Err: context.DeadlineExceeded}, "timeout"},
		{apierrors.NewInternalError(errors.New("etcd")), "server_error"},
		{apierrors.NewServiceUnavailable("later"), "server_error"},
		{apierrors.NewGenericServerResponse(502, "put", cmGR, testName, "bad gateway", 0, true), "server_error"},
		{context.Canceled, "canceled"},
		{&url.Error{Op: "Get", URL: "https://10.96.0.1/api", Err: context.Canceled}, "canceled"},
		{netErr, "transport"},
		{&url.Error{Op: "Get", URL: "https://10.96.0.1/api", Err: netErr}, "transport"},
		{fmt.Errorf("configmaplock: get: %w", timeoutError{}), "transport"},
		{errDial, "transport"},
		{errTransport, "other"}, // a plain error, not a net.Error
		{errors.New("something else"), "other"},
	} {
		if got := ErrorKind(tc.err); got != tc.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
