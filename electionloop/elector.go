package electionloop

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/record"
)

var (
	// ErrLeadershipLost is returned by Run when this candidate led and then
	// lost the lock: no renewal succeeded within RenewDeadline, or another
	// candidate took the lock.
	ErrLeadershipLost = errors.New("electionloop: leadership lost")
	// ErrRunning is returned by Run while another Run of the same Elector
	// has not returned.
	ErrRunning = errors.New("electionloop: Run is already running")

	// errHeldByOther means a renewal found another holder in the record.
	errHeldByOther = errors.New("electionloop: lock is held by another candidate")
)

// maxBackoffFactor caps the backoff after errors that retrying soon will not
// fix (Forbidden, a missing namespace): at most this many RetryPeriods.
const maxBackoffFactor = 16

// Elector is one candidate in an election.
type Elector struct {
	cfg    config.Config
	clock  clock.Clock
	jitter func() float64 // in [0, 1)

	running sync.Mutex // held by Run

	mu            sync.Mutex
	leading       bool
	observed      record.Record // last valid record seen or written
	observedRaw   string        // raw value of the last read
	observedTime  time.Time     // local time observedRaw last changed
	observedLease time.Duration // how long observedRaw stays valid unchanged
	haveObserved  bool
	lastWrite     time.Time // local time of this candidate's last successful write
}

// New checks cfg and returns an Elector for it.
func New(cfg config.Config) (*Elector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	return &Elector{cfg: cfg, clock: c, jitter: rand.Float64}, nil
}

// IsLeader reports whether this candidate currently leads.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// GetLeader returns the holder of the record last observed, "" if none.
func (e *Elector) GetLeader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observed.HolderIdentity
}

// Run takes part in the election until ctx is done or leadership is lost.
// It blocks while following; once this candidate acquires the lock it calls
// OnStartedLeading in a new goroutine and renews every RetryPeriod. Run
// returns ErrLeadershipLost (wrapping the last renewal error) when
// leadership ends on its own, and ctx.Err() when ctx ends it, after
// releasing the lock if ReleaseOnCancel is set. Before returning, Run waits
// for OnStartedLeading to return. An Elector runs once at a time; it may run
// again after Run returns.
func (e *Elector) Run(ctx context.Context) error {
	if !e.running.TryLock() {
		return ErrRunning
	}
	defer e.running.Unlock()
	logger := logr.FromContextOrDiscard(ctx).WithValues("lock", e.cfg.Lock.Describe(), "identity", e.cfg.Lock.Identity())
	ctx = logr.NewContext(ctx, logger)

	n := startNotifier(e.cfg.Callbacks.OnNewLeader)
	defer n.stop()

	acquiredAt, err := e.acquire(ctx, n)
	if err != nil {
		return err
	}
	return e.lead(ctx, n, acquiredAt)
}

// acquire retries until this candidate holds the lock, returning the time of
// the attempt that succeeded.
func (e *Elector) acquire(ctx context.Context, n *notifier) (time.Time, error) {
	logger := logr.FromContextOrDiscard(ctx)
	logger.Info("candidate is following")
	changes := e.changes()
	var report errorReport
	for {
		now := e.clock.Now()
		ok, err := e.tryAcquireOrRenew(ctx, now, n)
		if ok && e.clock.Since(now) >= e.cfg.RenewDeadline {
			// The write took so long that the lease it may have
			// started could already be over: renew before leading.
			logger.Info("acquired lease too slowly to lead on it, renewing first", "took", e.clock.Since(now))
			continue
		}
		if ok {
			logger.Info("acquired lease")
			return now, nil
		}
		wait, wake := e.jittered(), changes
		switch {
		case err != nil:
			e.apiError(err)
			wait = report.failed(logger, err, wait, e.cfg.RetryPeriod)
			if persistent(err) {
				// A change cannot cure it, and waking on every
				// renewal of the leader would undo the backoff.
				// A lost race still wakes: the winner's write, or
				// its release, is the change to act on.
				wake = nil
			}
		default:
			report.reset()
			logger.V(1).Info("lease held by another candidate", "holder", e.GetLeader())
			if changes != nil {
				// A watching follower needs no polling: it wakes when
				// the record changes or the lease it saw runs out.
				wait = e.expiry().Sub(now)
			}
		}
		if !e.sleep(ctx, wait, wake) {
			return time.Time{}, ctx.Err()
		}
	}
}

// lead runs OnStartedLeading and renews until leadership ends.
func (e *Elector) lead(ctx context.Context, n *notifier, lastRenew time.Time) error {
	logger := logr.FromContextOrDiscard(ctx)
	leaderCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.setLeading(true)
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		e.cfg.Callbacks.OnStartedLeading(leaderCtx)
	}()

	lastRenew, err := e.renew(ctx, n, lastRenew)
	cancel()
	e.setLeading(false)
	if err != nil {
		logger.Error(err, "stopped leading")
		e.stoppedLeading(logger)
		<-workDone
		return err
	}

	// ctx ended while leading.
	if e.cfg.ReleaseOnCancel {
		// Release only once the work has stopped: a follower takes a
		// released lock at once, and two leaders must not work together.
		deadline := lastRenew.Add(e.cfg.RenewDeadline)
		if e.waitUntil(workDone, deadline) {
			e.stoppedLeading(logger)
			e.release(ctx, deadline)
		} else {
			logger.Info("not releasing: OnStartedLeading did not return before the lease ran out")
			e.stoppedLeading(logger)
		}
	} else {
		e.stoppedLeading(logger)
	}
	<-workDone
	return ctx.Err()
}

// renew keeps the lease until ctx is done (nil error) or leadership is lost.
// It returns the time of the last successful renewal.
func (e *Elector) renew(ctx context.Context, n *notifier, lastRenew time.Time) (time.Time, error) {
	logger := logr.FromContextOrDiscard(ctx)
	var lastErr error
	for {
		now := e.clock.Now()
		deadline := lastRenew.Add(e.cfg.RenewDeadline)
		if !now.Before(deadline) {
			// Also reached without any attempt when the process was
			// frozen past the deadline: by now a follower may lead.
			err := fmt.Errorf("%w: no renewal succeeded within %v (last at %s)",
				ErrLeadershipLost, e.cfg.RenewDeadline, lastRenew.Format(time.RFC3339Nano))
			if lastErr != nil {
				err = fmt.Errorf("%w: %w", err, lastErr)
			}
			return lastRenew, err
		}
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, deadline.Sub(now))
		ok, err := e.renewOnce(attemptCtx, now, n)
		cancelAttempt()
		if e.cfg.Metrics != nil {
			e.cfg.Metrics.Renewed(e.clock.Since(now), err)
		}
		wait := e.cfg.RetryPeriod
		switch {
		case ok:
			lastRenew, lastErr = now, nil
			logger.V(1).Info("renewed lease")
		case ctx.Err() != nil:
			return lastRenew, nil
		case err == nil || errors.Is(err, errHeldByOther):
			if err == nil {
				err = errHeldByOther
			}
			return lastRenew, fmt.Errorf("%w: %w", ErrLeadershipLost, err)
		default:
			lastErr = err
			e.apiError(err)
			logger.Error(err, "failed to renew lease")
			// Retry no later than the deadline, so leadership ends at
			// the deadline and not up to a RetryPeriod after it.
			if until := lastRenew.Add(e.cfg.RenewDeadline).Sub(e.clock.Now()); until < wait {
				wait = until
			}
		}
		if !e.sleep(ctx, wait, nil) {
			return lastRenew, nil
		}
	}
}

// renewOnce renews with a single write over the ConfigMap this leader wrote
// last, so a steady pool costs one request per RetryPeriod. Only a conflict,
// meaning someone else wrote since, or a NotFound, meaning someone deleted
// the lock, makes it read and judge the record as tryAcquireOrRenew does.
func (e *Elector) renewOnce(ctx context.Context, now time.Time, n *notifier) (bool, error) {
	e.mu.Lock()
	renewed := e.observed
	e.mu.Unlock()
	if renewed.HolderIdentity != e.cfg.Lock.Identity() {
		return e.tryAcquireOrRenew(ctx, now, n)
	}
	renewed.RenewTime = now
	err := e.cfg.Lock.Update(ctx, renewed)
	switch {
	case err == nil:
		e.wrote(renewed, now, n)
		return true, nil
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		// A deleted lock is read and recreated too: followers that saw
		// our record leave that to us (see tryAcquireOrRenew).
		e.apiError(err)
		ok, retryErr := e.tryAcquireOrRenew(ctx, now, n)
		if retryErr != nil {
			// Keep the cause: a failed re-read alone would hide it.
			retryErr = fmt.Errorf("%w, after: %w", retryErr, err)
		}
		return ok, retryErr
	default:
		return false, err
	}
}

// tryAcquireOrRenew makes one attempt to take or keep the lock, as Python's
// try_acquire_or_renew does. now is the local time the attempt started.
// (false, nil) means the lock is validly held by another candidate.
func (e *Elector) tryAcquireOrRenew(ctx context.Context, now time.Time, n *notifier) (bool, error) {
	lock := e.cfg.Lock
	id := lock.Identity()
	fresh := record.Record{
		HolderIdentity: id,
		LeaseDuration:  e.cfg.LeaseDuration,
		AcquireTime:    now,
		RenewTime:      now,
	}

	rec, raw, err := lock.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		if e.heldByOther(now) {
			// Deleted while another candidate held it: that leader
			// will recreate it; creating now could make two leaders.
			return false, nil
		}
		if err := lock.Create(ctx, fresh); err != nil {
			return false, err
		}
		e.wrote(fresh, now, n)
		return true, nil

	case errors.Is(err, record.ErrNoRecord):
		// Python's "no record" (absent, empty, released, incomplete):
		// Python takes the lock at once, and so do we.
		if rec.HolderIdentity != id {
			fresh.LeaderTransitions = rec.LeaderTransitions + 1
		}
		e.observeRaw(raw, now, e.cfg.LeaseDuration)
		if err := lock.Update(ctx, fresh); err != nil {
			return false, err
		}
		e.wrote(fresh, now, n)
		return true, nil

	case errors.Is(err, record.ErrMalformed):
		// Nobody can read the holder, but changes of the raw value
		// still show that some writer is alive. A leader overwrites
		// it at once: its own lease has not run out.
		if changed := e.observeRaw(raw, now, e.cfg.LeaseDuration); !e.IsLeader() && (changed || now.Before(e.expiry())) {
			return false, nil
		}
		if err := lock.Update(ctx, fresh); err != nil {
			return false, err
		}
		e.wrote(fresh, now, n)
		return true, nil

	case err != nil:
		return false, err
	}

	if e.observeRaw(raw, now, max(e.cfg.LeaseDuration, rec.LeaseDuration)) {
		e.observe(rec, n)
	}
	if rec.HolderIdentity != id {
		if e.IsLeader() {
			return false, fmt.Errorf("%w: %q", errHeldByOther, rec.HolderIdentity)
		}
		if now.Before(e.expiry()) {
			return false, nil
		}
		fresh.LeaderTransitions = rec.LeaderTransitions + 1
	} else {
		// Renewing keeps acquireTime, as Python's leader does.
		fresh.AcquireTime = rec.AcquireTime
		fresh.LeaderTransitions = rec.LeaderTransitions
	}
	if err := lock.Update(ctx, fresh); err != nil {
		return false, err
	}
	e.wrote(fresh, now, n)
	return true, nil
}

// release writes a record with no holder over this leader's last write. A
// conflict means another candidate wrote since: nothing is left to release.
func (e *Elector) release(ctx context.Context, deadline time.Time) {
	logger := logr.FromContextOrDiscard(ctx)
	now := e.clock.Now()
	if !now.Before(deadline) {
		logger.Info("not releasing: the lease may already have passed to another candidate")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadline.Sub(now))
	defer cancel()
	e.mu.Lock()
	released := e.observed
	e.mu.Unlock()
	released.HolderIdentity = ""
	released.RenewTime = now
	err := e.cfg.Lock.Update(ctx, released)
	if apierrors.IsConflict(err) {
		// The last renewal may have been applied with its response
		// lost: if the record still names us, release that version.
		e.apiError(err)
		current, _, getErr := e.cfg.Lock.Get(ctx)
		if getErr == nil && current.HolderIdentity == e.cfg.Lock.Identity() {
			released = current
			released.HolderIdentity = ""
			released.RenewTime = now
			err = e.cfg.Lock.Update(ctx, released)
		}
	}
	if err != nil {
		e.apiError(err)
		logger.Error(err, "failed to release lease")
		return
	}
	e.mu.Lock()
	e.observed = released
	e.observedRaw, e.observedTime = "", now
	e.mu.Unlock()
	logger.Info("released lease")
}

// observeRaw notes the local time at which the raw value changed, and the
// lease that holds from then, and reports whether it changed.
func (e *Elector) observeRaw(raw string, now time.Time, lease time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.haveObserved && raw == e.observedRaw {
		return false
	}
	e.observedRaw, e.observedTime, e.observedLease, e.haveObserved = raw, now, lease, true
	return true
}

// observe records a valid record read from the lock.
func (e *Elector) observe(rec record.Record, n *notifier) {
	e.mu.Lock()
	changed := rec.HolderIdentity != e.observed.HolderIdentity
	e.observed = rec
	e.mu.Unlock()
	if changed && rec.HolderIdentity != "" {
		n.notify(rec.HolderIdentity)
	}
}

// wrote records a successful write of rec by this candidate. The raw value
// is left unknown: the next read sees it as a change, which for the writer
// only refreshes the observation time.
func (e *Elector) wrote(rec record.Record, now time.Time, n *notifier) {
	e.mu.Lock()
	e.observedRaw, e.observedTime, e.observedLease, e.haveObserved = "", now, e.cfg.LeaseDuration, true
	e.lastWrite = now
	e.mu.Unlock()
	e.observe(rec, n)
}

// expiry is when the observed lease ends on the local clock: the last
// change of the raw value plus the longer of our and the record's lease.
func (e *Elector) expiry() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observedTime.Add(e.observedLease)
}

// heldByOther reports whether the last valid record named another holder
// whose lease has not run out.
func (e *Elector) heldByOther(now time.Time) bool {
	e.mu.Lock()
	holder := e.observed.HolderIdentity
	e.mu.Unlock()
	if holder == "" || holder == e.cfg.Lock.Identity() {
		return false
	}
	return now.Before(e.expiry())
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.Leading(v)
	}
}

func (e *Elector) apiError(err error) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.APIError(ErrorKind(err))
	}
}

// changes is the lock's change notification, nil when it does not watch.
func (e *Elector) changes() <-chan struct{} {
	if w, ok := e.cfg.Lock.(config.Watching); ok {
		return w.Changes()
	}
	return nil
}

func (e *Elector) stoppedLeading(logger logr.Logger) {
	if e.cfg.Callbacks.OnStoppedLeading != nil {
		e.cfg.Callbacks.OnStoppedLeading()
		return
	}
	// Python's on_stoppedleading_callback.
	logger.Info("stopped leading")
}

// jittered is the wait before the next attempt to acquire: between
// RetryPeriod and JitterFactor × RetryPeriod, so candidates started together
// drift apart.
func (e *Elector) jittered() time.Duration {
	rp := float64(e.cfg.RetryPeriod)
	return time.Duration(rp + e.jitter()*(config.JitterFactor-1)*rp)
}

// sleep waits d on the injected clock, or until wake receives; false means
// ctx ended first. A nil wake never receives.
func (e *Elector) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := e.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	case <-wake:
		return true
	}
}

// waitUntil waits for done until the deadline on the injected clock.
func (e *Elector) waitUntil(done <-chan struct{}, deadline time.Time) bool {
	select {
	case <-done:
		return true
	default:
	}
	d := deadline.Sub(e.clock.Now())
	if d <= 0 {
		return false
	}
	t := e.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C():
		return false
	}
}
