package electionloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Status is a snapshot of a candidate's view of the election.
type Status struct {
	// Leading reports whether this candidate believes it leads.
	Leading bool
	// Leader is the holder of the record last observed, "" if none.
	Leader string
	// LastRenewal is the local time of this leader's last successful write
	// (acquisition or renewal); zero before the first.
	LastRenewal time.Time
}

// Status returns the candidate's current view.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{Leading: e.leading, Leader: e.observed.HolderIdentity, LastRenewal: e.lastWrite}
}

// ErrorKind names the kind of an API error for metrics and logs: conflict,
// already_exists, not_found, forbidden, unauthorized, invalid, too_large,
// too_many_requests, timeout, server_error, canceled, transport or other.
func ErrorKind(err error) string {
	var netErr net.Error
	switch {
	case err == nil:
		return ""
	case apierrors.IsConflict(err):
		return "conflict"
	case apierrors.IsAlreadyExists(err):
		return "already_exists"
	case apierrors.IsNotFound(err):
		return "not_found"
	case apierrors.IsForbidden(err):
		return "forbidden"
	case apierrors.IsUnauthorized(err):
		return "unauthorized"
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return "invalid"
	case apierrors.IsRequestEntityTooLargeError(err):
		return "too_large"
	case apierrors.IsTooManyRequests(err):
		return "too_many_requests"
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return "server_error"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr):
		return "transport"
	}
	return "other"
}

// HealthCheck fails while this process believes it leads but has not
// renewed for longer than LeaseDuration plus a tolerance. The loop itself
// stops leading after RenewDeadline, so failing means the loop is stuck and
// followers may already lead: a liveness probe should restart the process.
// It has the Name / Check shape of client-go's and controller-runtime's
// health checkers, and is an http.Handler for a plain /healthz.
type HealthCheck struct {
	elector   *Elector
	tolerance time.Duration
}

// NewHealthCheck returns a check of e with the given tolerance beyond the
// lease.
func NewHealthCheck(e *Elector, tolerance time.Duration) *HealthCheck {
	return &HealthCheck{elector: e, tolerance: tolerance}
}

// Name names the check in a /healthz listing.
func (h *HealthCheck) Name() string { return "leaderElection" }

// Check returns an error when the leader is stuck.
func (h *HealthCheck) Check(*http.Request) error {
	st := h.elector.Status()
	if !st.Leading {
		return nil
	}
	limit := h.elector.cfg.LeaseDuration + h.tolerance
	if since := h.elector.clock.Since(st.LastRenewal); since > limit {
		return fmt.Errorf("electionloop: leading %s but the last renewal was %v ago, more than the lease and tolerance (%v)",
			h.elector.cfg.Lock.Describe(), since.Round(time.Millisecond), limit)
	}
	return nil
}

// ServeHTTP answers 200 "ok" or 500 with the error.
func (h *HealthCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.Check(r); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("ok"))
}
