package migrationlock

import (
	"context"
	"errors"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/leaselock"
	"github.com/kubepy/leaderelection/record"
)

// Options names the ConfigMap and the Lease, which share namespace and name,
// and this candidate.
type Options struct {
	// Namespace of both objects; a DNS label. Required.
	Namespace string
	// Name of both objects; a DNS subdomain. Required.
	Name string
	// Identity of this candidate, written as the holder. Required.
	Identity string
}

// Lock keeps the ConfigMap annotation (primary) and the Lease (secondary) in
// step. It is safe for concurrent use, though a candidate uses it from one
// goroutine.
type Lock struct {
	primary   *configmaplock.Lock
	secondary *leaselock.Lock

	mu sync.Mutex
	// leaseMissing records that the last Get found no Lease, so that Update
	// creates it instead of replacing a version it never saw.
	leaseMissing bool
}

var _ config.Lock = (*Lock)(nil)

// New returns a lock on the ConfigMap and the Lease opts.Namespace/opts.Name.
// The annotation is always written in the Python dialect, since Python
// candidates are what the ConfigMap is kept for. It checks the clients, the
// names and the identity, naming each bad value.
func New(configMaps corev1client.ConfigMapsGetter, leases coordinationv1client.LeasesGetter, opts Options) (*Lock, error) {
	primary, err := configmaplock.New(configMaps, configmaplock.Options{
		Namespace: opts.Namespace, Name: opts.Name, Identity: opts.Identity, Dialect: record.Python,
	})
	if leases == nil {
		// configmaplock has checked everything else, so every problem is
		// reported once.
		return nil, errors.Join(err, errors.New("migrationlock: Leases client is nil"))
	}
	if err != nil {
		return nil, err
	}
	secondary, err := leaselock.New(leases, leaselock.Options{Namespace: opts.Namespace, Name: opts.Name, Identity: opts.Identity})
	if err != nil {
		return nil, err
	}
	return &Lock{primary: primary, secondary: secondary}, nil
}

// Get reads the ConfigMap and then the Lease.
//
// The record is the ConfigMap's, with the Lease's transition count (the
// Python dialect has none), except when the Lease names another live holder
// and the ConfigMap names this candidate or holds no usable record: then it
// is the Lease's. That case arises when this candidate's write reached the
// ConfigMap but lost the race for the Lease to a Lease-only candidate, or
// when the annotation was deleted while Lease-only candidates run; taking the
// ConfigMap at its word would make this candidate renew, or take the lock at
// once, while the Lease's holder leads.
//
// The raw value holds both raw values, so that a write to either one is seen
// as the holder being alive. A missing Lease is not an error: Update creates
// it. A missing ConfigMap is an API NotFound error, like any other error of
// either read but a record-level one (record.ErrNoRecord, ErrMalformed) of the
// ConfigMap, which is returned with the record as configmaplock returns it.
func (l *Lock) Get(ctx context.Context) (record.Record, string, error) {
	rec, primaryRaw, primaryErr := l.primary.Get(ctx)
	if primaryErr != nil && !recordLevel(primaryErr) {
		return record.Record{}, "", primaryErr
	}
	lease, leaseRaw, leaseErr := l.secondary.Get(ctx)
	missing := apierrors.IsNotFound(leaseErr)
	if leaseErr != nil && !missing && !recordLevel(leaseErr) {
		return record.Record{}, "", leaseErr
	}
	l.mu.Lock()
	l.leaseMissing = missing
	l.mu.Unlock()

	raw := "configMap=" + strconv.Quote(primaryRaw) + " lease="
	if missing {
		raw += "none"
	} else {
		raw += strconv.Quote(leaseRaw)
		// The Lease counts transitions for client-go's readers; keep
		// counting from its number.
		rec.LeaderTransitions = lease.LeaderTransitions
	}
	if leaseErr == nil && lease.HolderIdentity != l.Identity() && (primaryErr != nil || rec.HolderIdentity == l.Identity()) {
		return lease, raw, nil
	}
	return rec, raw, primaryErr
}

// recordLevel reports whether err says the object exists but holds no usable
// record.
func recordLevel(err error) bool {
	return errors.Is(err, record.ErrNoRecord) || errors.Is(err, record.ErrMalformed)
}

// Create creates the ConfigMap and then the Lease. When the Lease already
// exists it fails with AlreadyExists, and this candidate does not lead: the
// next Get then sees what the Lease holds.
func (l *Lock) Create(ctx context.Context, rec record.Record) error {
	if err := l.primary.Create(ctx, rec); err != nil {
		return err
	}
	return l.writeLease(ctx, rec, true)
}

// Update writes the ConfigMap and then the Lease, each over the version the
// last Get saw, so a write by any other candidate to either one since then
// makes it fail with a 409 Conflict. A Lease that the last Get found missing
// is created, failing with AlreadyExists if another candidate created it
// since.
//
// When the ConfigMap is written but the Lease is not, Update fails and the
// candidate does not lead; Get keeps it from taking the ConfigMap's word
// later (see Get).
func (l *Lock) Update(ctx context.Context, rec record.Record) error {
	if err := l.primary.Update(ctx, rec); err != nil {
		return err
	}
	l.mu.Lock()
	missing := l.leaseMissing
	l.mu.Unlock()
	return l.writeLease(ctx, rec, missing)
}

func (l *Lock) writeLease(ctx context.Context, rec record.Record, create bool) error {
	var err error
	if create {
		err = l.secondary.Create(ctx, rec)
	} else {
		err = l.secondary.Update(ctx, rec)
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.leaseMissing = false
	l.mu.Unlock()
	return nil
}

// Identity returns this candidate's identity.
func (l *Lock) Identity() string { return l.primary.Identity() }

// Describe returns "namespace/name", the name of both objects.
func (l *Lock) Describe() string { return l.primary.Describe() }
