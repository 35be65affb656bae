package leaselock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/record"
)

// ErrNotRead is returned by Update when no Lease has been read or written
// yet: there is no version to replace.
var ErrNotRead = errors.New("leaselock: update before the Lease was read")

// Options names the lock and this candidate.
type Options struct {
	// Namespace of the Lease; a DNS label. Required.
	Namespace string
	// Name of the Lease; a DNS subdomain. Required.
	Name string
	// Identity of this candidate, written as the holder. Required.
	Identity string
}

// Lock is a Lease lock. It is safe for concurrent use, though a candidate
// uses it from one goroutine.
type Lock struct {
	client coordinationv1client.LeasesGetter
	opts   Options

	mu   sync.Mutex
	last *coordinationv1.Lease // what Get, Create or Update last saw
}

var _ config.Lock = (*Lock)(nil)

// New returns a lock on the Lease opts.Namespace/opts.Name. It checks the
// names and the identity, naming each bad value.
func New(client coordinationv1client.LeasesGetter, opts Options) (*Lock, error) {
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("leaselock: client is nil"))
	}
	errs = append(errs, config.ValidateNamespace(opts.Namespace))
	errs = append(errs, config.ValidateName("Lease", opts.Name))
	if err := config.ValidateIdentity(opts.Identity); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Lock{client: client, opts: opts}, nil
}

// Get reads the Lease and converts its spec. A missing Lease is an API
// NotFound error; a Lease without a complete record returns an error wrapping
// record.ErrNoRecord, with the raw spec.
func (l *Lock) Get(ctx context.Context) (record.Record, string, error) {
	lease, err := l.client.Leases(l.opts.Namespace).Get(ctx, l.opts.Name, metav1.GetOptions{})
	if err != nil {
		return record.Record{}, "", fmt.Errorf("leaselock: get %s: %w", l.Describe(), err)
	}
	l.remember(lease)
	raw, err := rawSpec(lease.Spec)
	if err != nil {
		return record.Record{}, "", fmt.Errorf("leaselock: %s: %w", l.Describe(), err)
	}
	rec, err := RecordFromSpec(lease.Spec)
	if err != nil {
		return rec, raw, fmt.Errorf("leaselock: %s: %w", l.Describe(), err)
	}
	return rec, raw, nil
}

// Create creates the Lease holding rec. It fails with AlreadyExists when
// another candidate created it first.
func (l *Lock) Create(ctx context.Context, rec record.Record) error {
	spec, err := SpecFromRecord(rec)
	if err != nil {
		return fmt.Errorf("leaselock: create %s: %w", l.Describe(), err)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: l.opts.Namespace, Name: l.opts.Name},
		Spec:       spec,
	}
	created, err := l.client.Leases(l.opts.Namespace).Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("leaselock: create %s: %w", l.Describe(), err)
	}
	l.remember(created)
	return nil
}

// Update writes rec into the Lease last seen, keeping its metadata and the
// spec fields a record does not carry. A concurrent write since then makes it
// fail with a 409 Conflict.
func (l *Lock) Update(ctx context.Context, rec record.Record) error {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	if last == nil {
		return fmt.Errorf("%w: %s", ErrNotRead, l.Describe())
	}
	spec, err := SpecFromRecord(rec)
	if err != nil {
		return fmt.Errorf("leaselock: update %s: %w", l.Describe(), err)
	}
	lease := last.DeepCopy()
	spec.Strategy, spec.PreferredHolder = lease.Spec.Strategy, lease.Spec.PreferredHolder
	lease.Spec = spec
	updated, err := l.client.Leases(l.opts.Namespace).Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("leaselock: update %s: %w", l.Describe(), err)
	}
	l.remember(updated)
	return nil
}

// Identity returns this candidate's identity.
func (l *Lock) Identity() string { return l.opts.Identity }

// Describe returns "namespace/name", as client-go's LeaseLock does.
func (l *Lock) Describe() string { return l.opts.Namespace + "/" + l.opts.Name }

func (l *Lock) remember(lease *coordinationv1.Lease) {
	l.mu.Lock()
	l.last = lease
	l.mu.Unlock()
}

// rawSpec is the canonical text of a spec: encoding/json writes struct
// fields in a fixed order and MicroTime in a fixed format, so equal specs
// give equal text and any change of the spec changes it.
func rawSpec(spec coordinationv1.LeaseSpec) (string, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("encode spec: %w", err)
	}
	return string(b), nil
}

// RecordFromSpec reads a record from a Lease spec as client-go's
// LeaseSpecToLeaderElectionRecord does. When the holder is missing or empty,
// or the duration or a time is missing or zero, it returns what it could read
// with an error wrapping record.ErrNoRecord that names the absent fields, the
// rule record.Decode applies to the ConfigMap annotation. A negative duration,
// which the API server refuses, reads as 0, as record.Decode reads one.
func RecordFromSpec(spec coordinationv1.LeaseSpec) (record.Record, error) {
	var r record.Record
	var absent []string
	switch {
	case spec.HolderIdentity == nil:
		absent = append(absent, "holderIdentity is missing")
	case *spec.HolderIdentity == "":
		absent = append(absent, "holderIdentity is empty")
	default:
		r.HolderIdentity = *spec.HolderIdentity
	}
	switch {
	case spec.LeaseDurationSeconds == nil:
		absent = append(absent, "leaseDurationSeconds is missing")
	case *spec.LeaseDurationSeconds == 0:
		absent = append(absent, "leaseDurationSeconds is zero")
	case *spec.LeaseDurationSeconds > 0:
		r.LeaseDuration = time.Duration(*spec.LeaseDurationSeconds) * time.Second
	}
	readTime := func(name string, t *metav1.MicroTime) time.Time {
		switch {
		case t == nil:
			absent = append(absent, name+" is missing")
		case t.IsZero():
			absent = append(absent, name+" is zero")
		default:
			return t.Time
		}
		return time.Time{}
	}
	r.AcquireTime = readTime("acquireTime", spec.AcquireTime)
	r.RenewTime = readTime("renewTime", spec.RenewTime)
	if spec.LeaseTransitions != nil {
		r.LeaderTransitions = int(*spec.LeaseTransitions)
	}
	if absent != nil {
		return r, fmt.Errorf("%w: %s", record.ErrNoRecord, strings.Join(absent, ", "))
	}
	return r, nil
}

// SpecFromRecord returns the Lease spec holding r, as client-go's
// LeaderElectionRecordToLeaseSpec writes it: the duration rounded up to whole
// seconds (at most math.MaxInt32), zero times left out, and the transitions
// clamped to what a Lease accepts (0 to math.MaxInt32). A duration that is
// not positive is an error: the API server refuses it, and a reader could
// take it as no lease at all.
func SpecFromRecord(r record.Record) (coordinationv1.LeaseSpec, error) {
	if r.LeaseDuration <= 0 {
		return coordinationv1.LeaseSpec{}, fmt.Errorf("lease duration %v is not positive", r.LeaseDuration)
	}
	holder := r.HolderIdentity
	s := r.LeaseDuration / time.Second
	if r.LeaseDuration%time.Second != 0 {
		s++
	}
	seconds := int32(min(s, math.MaxInt32))
	transitions := int32(min(max(r.LeaderTransitions, 0), math.MaxInt32))
	return coordinationv1.LeaseSpec{
		HolderIdentity:       &holder,
		LeaseDurationSeconds: &seconds,
		AcquireTime:          microTime(r.AcquireTime),
		RenewTime:            microTime(r.RenewTime),
		LeaseTransitions:     &transitions,
	}, nil
}

func microTime(t time.Time) *metav1.MicroTime {
	if t.IsZero() {
		return nil
	}
	return &metav1.MicroTime{Time: t}
}
