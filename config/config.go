package config

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"k8s.io/utils/clock"

	"github.com/kubepy/leaderelection/record"
)

// JitterFactor bounds the random stretch of each retry: a candidate waits
// between RetryPeriod and JitterFactor × RetryPeriod before trying again.
// Validation requires RenewDeadline > JitterFactor × RetryPeriod, as Python does.
const JitterFactor = 1.2

// MinDuration is the smallest LeaseDuration, RenewDeadline or RetryPeriod the
// Python client accepts.
const MinDuration = time.Second

// MaxIdentityLength bounds an identity in bytes. Every write carries the
// identity, and the API server refuses an object whose annotations exceed
// 256 KiB; a longer identity is almost certainly a mistake.
const MaxIdentityLength = 1024

// Lock is where the election record lives. Implementations keep the object
// they read last so that Update replaces exactly that version and fails with
// a 409 Conflict when another candidate wrote in between.
type Lock interface {
	// Get reads the lock. It returns the decoded record and the raw stored
	// value. An error wrapping record.ErrNoRecord or record.ErrMalformed
	// means the object exists but holds no usable record; raw is set then.
	// A missing object is an API NotFound error.
	Get(ctx context.Context) (rec record.Record, raw string, err error)
	// Create creates the lock object holding rec.
	Create(ctx context.Context, rec record.Record) error
	// Update writes rec over the version that Get, Create or Update last saw.
	Update(ctx context.Context, rec record.Record) error
	// Identity is this candidate's identity, the holder it writes.
	Identity() string
	// Describe names the lock for logs and errors, such as "default/my-lock".
	Describe() string
}

// Watching is implemented by locks that learn of changes without polling,
// such as a configmaplock.Lock with a Watcher. Its followers wake at each
// change and at the exact moment a lease expires instead of polling every
// RetryPeriod. Changes may return nil: the lock does not watch then.
type Watching interface {
	Changes() <-chan struct{}
}

// Metrics receives measurements of one candidate's election. The loop calls
// it from its own goroutine: implementations must be safe for concurrent use
// and must not block. The prometheus module of this repository adapts it to
// Prometheus.
type Metrics interface {
	// Leading reports that this candidate started (true) or stopped
	// (false) leading.
	Leading(leading bool)
	// Renewed reports one renewal attempt of the leader: how long it took
	// and its error, nil when it succeeded.
	Renewed(took time.Duration, err error)
	// APIError reports a failed API call by kind, as
	// electionloop.ErrorKind names it: "conflict", "forbidden", ...
	APIError(kind string)
}

// Callbacks are called by the election loop.
type Callbacks struct {
	// OnStartedLeading runs in its own goroutine when this candidate becomes
	// leader. Its context is cancelled the moment leadership ends; it must
	// return then, since Run waits for it. Required.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading is called once leadership has ended. When nil, the
	// loop logs that this identity stopped leading, like Python's default.
	OnStoppedLeading func()
	// OnNewLeader is called, in order and from a single goroutine, each
	// time the observed holder changes, this candidate included. Optional.
	OnNewLeader func(identity string)
}

// Config configures one candidate. The field names follow client-go's
// LeaderElectionConfig; compat maps Python's names onto them.
type Config struct {
	// Lock holds the record. Required.
	Lock Lock
	// LeaseDuration is how long followers wait after they last saw the
	// record change before they take over (Python's lease_duration).
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it
	// gives up leadership (Python's renew_deadline).
	RenewDeadline time.Duration
	// RetryPeriod is the wait between attempts (Python's retry_period).
	RetryPeriod time.Duration
	// Callbacks are the hooks for leadership changes.
	Callbacks Callbacks
	// ReleaseOnCancel makes a leader whose context is cancelled write a
	// record with an empty holder, which every candidate, Python's included,
	// takes at its next attempt instead of after a whole lease.
	ReleaseOnCancel bool
	// Clock is the time source; nil means the real clock.
	Clock clock.Clock
	// Metrics receives measurements; nil means none.
	Metrics Metrics
}

// FieldError is one validation failure: the field and what is wrong with
// its value.
type FieldError struct {
	Field   string // such as "RenewDeadline" or "Lock.Identity"
	Problem string // names the values at fault
}

func (e *FieldError) Error() string { return "config: " + e.Field + " " + e.Problem }

// Validate checks the configuration with the Python client's rules and
// returns every violation at once (errors.Join of *FieldError).
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.Lock == nil {
		bad("Lock", "is required")
	} else if err := ValidateIdentity(c.Lock.Identity()); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"LeaseDuration", c.LeaseDuration}, {"RenewDeadline", c.RenewDeadline}, {"RetryPeriod", c.RetryPeriod}} {
		if d.v < MinDuration {
			bad(d.name, "is %v, must be at least %v", d.v, MinDuration)
		}
	}
	if c.LeaseDuration <= c.RenewDeadline {
		bad("LeaseDuration", "(%v) must be greater than RenewDeadline (%v)", c.LeaseDuration, c.RenewDeadline)
	}
	if jittered := time.Duration(JitterFactor * float64(c.RetryPeriod)); c.RenewDeadline <= jittered {
		bad("RenewDeadline", "(%v) must be greater than RetryPeriod × JitterFactor (%v × %v = %v)", c.RenewDeadline, c.RetryPeriod, JitterFactor, jittered)
	}
	if c.Callbacks.OnStartedLeading == nil {
		bad("Callbacks.OnStartedLeading", "is required")
	}
	return errors.Join(errs...)
}

// ValidateIdentity checks a candidate identity: non-empty, valid UTF-8 (the
// Python dialect is JSON text) and at most MaxIdentityLength bytes. It
// returns a *FieldError for the field Lock.Identity.
func ValidateIdentity(id string) error {
	switch {
	case id == "":
		return &FieldError{Field: "Lock.Identity", Problem: "is empty"}
	case !utf8.ValidString(id):
		return &FieldError{Field: "Lock.Identity", Problem: fmt.Sprintf("%q is not valid UTF-8", id)}
	case len(id) > MaxIdentityLength:
		return &FieldError{Field: "Lock.Identity", Problem: fmt.Sprintf("%.40q... is %d bytes, at most %d allowed", id, len(id), MaxIdentityLength)}
	}
	return nil
}

// ValidateNamespace checks the namespace of a lock object: a DNS label. It
// returns a *FieldError for the field Namespace.
func ValidateNamespace(namespace string) error {
	if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
		return &FieldError{Field: "Namespace", Problem: fmt.Sprintf("is invalid: namespace %q is not a valid namespace name: %s", namespace, strings.Join(msgs, "; "))}
	}
	return nil
}

// ValidateName checks the name of a lock object of the given kind, such as
// "ConfigMap": a DNS subdomain. It returns a *FieldError for the field Name.
func ValidateName(kind, name string) error {
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return &FieldError{Field: "Name", Problem: fmt.Sprintf("is invalid: name %q is not a valid %s name: %s", name, kind, strings.Join(msgs, "; "))}
	}
	return nil
}
