package electionloop

import (
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// errorReport keeps a follower's failed attempts from flooding the log or
// the API server: an error is logged once until it changes, and errors that
// retrying soon cannot fix back off exponentially.
type errorReport struct {
	last       string
	persistent int // consecutive persistent failures
}

func (r *errorReport) reset() { *r = errorReport{} }

// failed logs err and returns how long to wait before the next attempt.
func (r *errorReport) failed(logger logr.Logger, err error, wait, retryPeriod time.Duration) time.Duration {
	msg := err.Error()
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		// Another candidate wrote first: the normal loss of a race.
		logger.V(1).Info("lost a race for the lease", "error", msg)
	case msg != r.last:
		logger.Error(err, "failed to acquire lease")
	default:
		logger.V(1).Info("failed to acquire lease again", "error", msg)
	}
	r.last = msg
	if !persistent(err) {
		r.persistent = 0
		return wait
	}
	r.persistent++
	backoff := retryPeriod << min(r.persistent-1, 4)
	return max(wait, min(backoff, maxBackoffFactor*retryPeriod))
}

// persistent reports errors that need someone to act (grant RBAC rights,
// create a namespace), not just another try.
func persistent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) ||
		apierrors.IsNotFound(err) || apierrors.IsInvalid(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsMethodNotSupported(err) ||
		apierrors.IsRequestEntityTooLargeError(err)
}
