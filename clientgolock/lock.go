package clientgolock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/lockevents"
	"github.com/kubepy/leaderelection/record"
)

// UnreadableHolder is the holder Get reports for an annotation that is not a
// JSON object: some unknown writer, alive while the value keeps changing.
const UnreadableHolder = "<unreadable record>"

// DefaultLeaseDuration is the lease duration assumed without
// WithLeaseDuration: the default of controller-runtime's manager.
const DefaultLeaseDuration = 15 * time.Second

// Lock is a client-go resourcelock.Interface over a configmaplock.Lock that
// writes the Python dialect. Like every resourcelock.Interface it serves one
// LeaderElector.
type Lock struct {
	lock            *configmaplock.Lock
	namespace, name string
	leaseSeconds    int // at least this is reported as any record's lease
	recorder        resourcelock.EventRecorder
}

var _ resourcelock.Interface = (*Lock)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	lease    time.Duration
	recorder resourcelock.EventRecorder
}

// WithLeaseDuration gives the LeaseDuration of the LeaderElectionConfig, or
// controller-runtime's Options.LeaseDuration, that this lock serves. Get
// reports at least this as a record's lease, so that the LeaderElector, which
// judges expiry by the record's lease alone, waits at least its own lease as
// Python and this module's candidates do; and it is the lease of an
// unreadable record. Default: DefaultLeaseDuration.
func WithLeaseDuration(d time.Duration) Option {
	return func(o *options) { o.lease = d }
}

// WithEventRecorder makes RecordEvent record events on the ConfigMap, such
// as a recorder from lockevents.NewRecorder. Default: no events.
func WithEventRecorder(r resourcelock.EventRecorder) Option {
	return func(o *options) { o.recorder = r }
}

// New returns a lock on the ConfigMap namespace/name for the candidate
// identity. It checks the names, the identity and the options, naming each
// bad value.
func New(client corev1client.ConfigMapsGetter, namespace, name, identity string, opts ...Option) (*Lock, error) {
	o := options{lease: DefaultLeaseDuration}
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	lock, err := configmaplock.New(client, configmaplock.Options{
		Namespace: namespace, Name: name, Identity: identity, Dialect: record.Python,
	})
	errs = append(errs, err)
	if identity == UnreadableHolder {
		errs = append(errs, fmt.Errorf("clientgolock: identity %q is reserved for unreadable records", identity))
	}
	if o.lease < time.Second {
		errs = append(errs, fmt.Errorf("clientgolock: lease duration %v is less than 1s", o.lease))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Lock{lock: lock, namespace: namespace, name: name, leaseSeconds: ceilSeconds(o.lease), recorder: o.recorder}, nil
}

// Get reads the record. A missing ConfigMap is the API's NotFound error, on
// which the LeaderElector creates it. Python's "no record" (the annotation
// absent, empty, released or incomplete) is a record with an empty holder,
// which the LeaderElector takes at once, as Python does. An annotation that is
// not a JSON object is held by UnreadableHolder, taken once it has stayed
// unchanged for a lease. The raw bytes are the annotation's: the
// LeaderElector sees the holder alive while they change.
func (l *Lock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.lock.Get(ctx)
	switch {
	case errors.Is(err, record.ErrNoRecord):
		ler := l.toClientGo(rec)
		ler.HolderIdentity = ""
		return &ler, []byte(raw), nil
	case errors.Is(err, record.ErrMalformed):
		return &resourcelock.LeaderElectionRecord{
			HolderIdentity:       UnreadableHolder,
			LeaseDurationSeconds: l.leaseSeconds,
		}, []byte(raw), nil
	case err != nil:
		return nil, nil, err
	}
	ler := l.toClientGo(rec)
	return &ler, []byte(raw), nil
}

// Create creates the ConfigMap holding ler in the Python dialect.
func (l *Lock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	rec, err := fromClientGo(ler)
	if err != nil {
		return fmt.Errorf("clientgolock: create %s: %w", l.Describe(), err)
	}
	return l.lock.Create(ctx, rec)
}

// Update writes ler in the Python dialect over the ConfigMap that Get, Create
// or Update saw last, so that a write based on a stale read fails with a 409
// Conflict. The LeaderElector's leader renews without reading first; its
// last write is then the version replaced.
func (l *Lock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	rec, err := fromClientGo(ler)
	if err != nil {
		return fmt.Errorf("clientgolock: update %s: %w", l.Describe(), err)
	}
	return l.lock.Update(ctx, rec)
}

// RecordEvent records a Normal event with reason LeaderElection on the
// ConfigMap, "<identity> <s>" as client-go's locks word it, when New was
// given an EventRecorder. The event names the ConfigMap by namespace and
// name, without its UID.
func (l *Lock) RecordEvent(s string) {
	if l.recorder == nil {
		return
	}
	// Arguments, not part of the format: the identity may hold a '%'.
	l.recorder.Eventf(lockevents.ConfigMap(l.namespace, l.name), corev1.EventTypeNormal, lockevents.Reason, "%s %s", l.Identity(), s)
}

// Identity returns this candidate's identity.
func (l *Lock) Identity() string { return l.lock.Identity() }

// Describe returns "namespace/name", as client-go's locks do.
func (l *Lock) Describe() string { return l.lock.Describe() }

// toClientGo converts a record read from the annotation. client-go's lease
// has whole seconds: a fractional one is rounded up, so that no reader waits
// less than the writer meant, and one shorter than this lock's lease is
// raised to it.
func (l *Lock) toClientGo(r record.Record) resourcelock.LeaderElectionRecord {
	return resourcelock.LeaderElectionRecord{
		HolderIdentity:       r.HolderIdentity,
		LeaseDurationSeconds: max(ceilSeconds(r.LeaseDuration), l.leaseSeconds),
		AcquireTime:          metav1.Time{Time: r.AcquireTime},
		RenewTime:            metav1.Time{Time: r.RenewTime},
		LeaderTransitions:    r.LeaderTransitions,
	}
}

// fromClientGo converts a record the LeaderElector writes. Strategy and
// PreferredHolder belong to coordinated election on Leases; the annotation
// has no place for them. A lease that is not positive is refused: the
// LeaderElector writes one only when its LeaseDuration is under a second,
// which Python refuses too.
func fromClientGo(ler resourcelock.LeaderElectionRecord) (record.Record, error) {
	if ler.LeaseDurationSeconds <= 0 {
		return record.Record{}, fmt.Errorf("lease duration of %d seconds is not positive", ler.LeaseDurationSeconds)
	}
	return record.Record{
		HolderIdentity:    ler.HolderIdentity,
		LeaseDuration:     time.Duration(min(int64(ler.LeaseDurationSeconds), math.MaxInt64/int64(time.Second))) * time.Second,
		AcquireTime:       ler.AcquireTime.Time,
		RenewTime:         ler.RenewTime.Time,
		LeaderTransitions: ler.LeaderTransitions,
	}, nil
}

// ceilSeconds rounds d up to whole seconds, at most math.MaxInt.
func ceilSeconds(d time.Duration) int {
	s := d / time.Second
	if d%time.Second > 0 {
		s++
	}
	return int(min(int64(s), math.MaxInt))
}
