package leaselock_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubepy/leaderelection/leaselock"
	"github.com/kubepy/leaderelection/record"
)

var leases = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func newLock(t *testing.T, cs *fake.Clientset) *leaselock.Lock {
	t.Helper()
	l, err := leaselock.New(cs.CoordinationV1(), leaselock.Options{Namespace: "ns", Name: "lock", Identity: "me"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var t0 = time.Date(2026, 11, 22, 10, 15, 30, 250_000_000, time.UTC)

func sample(holder string) record.Record {
	return record.Record{HolderIdentity: holder, LeaseDuration: 17 * time.Second, AcquireTime: t0, RenewTime: t0.Add(time.Second), LeaderTransitions: 2}
}

func fullSpec() coordinationv1.LeaseSpec {
	return coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To("a"),
		LeaseDurationSeconds: ptr.To[int32](15),
		AcquireTime:          &metav1.MicroTime{Time: t0},
		RenewTime:            &metav1.MicroTime{Time: t0},
		LeaseTransitions:     ptr.To[int32](4),
	}
}

func userLease(spec coordinationv1.LeaseSpec) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "lock",
			Labels:      map[string]string{"app": "operator"},
			Annotations: map[string]string{"team": "a"},
		},
		Spec: spec,
	}
}

func stored(t *testing.T, cs *fake.Clientset) *coordinationv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases("ns").Get(context.Background(), "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewNamesBadValues(t *testing.T) {
	cs := fake.NewClientset()
	_, err := leaselock.New(cs.CoordinationV1(), leaselock.Options{Namespace: "Bad_NS", Name: "no/slash", Identity: ""})
	if err == nil {
		t.Fatal("New accepted an invalid namespace, name and identity")
	}
	for _, want := range []string{`"Bad_NS"`, `"no/slash"`, "Identity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := leaselock.New(nil, leaselock.Options{Namespace: "ns", Name: "lock", Identity: "me"}); err == nil {
		t.Error("New accepted a nil client")
	}
}

func TestGetMissingLeaseIsNotFound(t *testing.T) {
	l := newLock(t, fake.NewClientset())
	_, _, err := l.Get(context.Background())
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "ns/lock") {
		t.Fatalf("Get on a missing Lease: %v, want a NotFound naming ns/lock", err)
	}
	if err := l.Update(context.Background(), sample("me")); !errors.Is(err, leaselock.ErrNotRead) {
		t.Fatalf("Update before any read: %v, want ErrNotRead", err)
	}
}

// A Lease without a complete record is taken at once, like a ConfigMap
// without a complete annotation; the error says what is absent.
func TestGetWithoutRecordIsNoRecord(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(*coordinationv1.LeaseSpec)
	}{
		{"empty spec", "holderIdentity is missing", func(s *coordinationv1.LeaseSpec) { *s = coordinationv1.LeaseSpec{} }},
		{"released", "holderIdentity is empty", func(s *coordinationv1.LeaseSpec) { s.HolderIdentity = ptr.To("") }},
		{"no duration", "leaseDurationSeconds is missing", func(s *coordinationv1.LeaseSpec) { s.LeaseDurationSeconds = nil }},
		{"zero duration", "leaseDurationSeconds is zero", func(s *coordinationv1.LeaseSpec) { s.LeaseDurationSeconds = ptr.To[int32](0) }},
		{"no acquire time", "acquireTime is missing", func(s *coordinationv1.LeaseSpec) { s.AcquireTime = nil }},
		{"zero renew time", "renewTime is zero", func(s *coordinationv1.LeaseSpec) { s.RenewTime = &metav1.MicroTime{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fullSpec()
			tc.edit(&spec)
			l := newLock(t, fake.NewClientset(userLease(spec)))
			rec, raw, err := l.Get(context.Background())
			if !errors.Is(err, record.ErrNoRecord) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Get error %v, want ErrNoRecord naming %q", err, tc.want)
			}
			if !strings.HasPrefix(raw, "{") {
				t.Errorf("raw %q, want the spec's JSON", raw)
			}
			if spec.LeaseTransitions != nil && rec.LeaderTransitions != 4 {
				t.Errorf("transitions %d, want 4 kept from the incomplete record", rec.LeaderTransitions)
			}
		})
	}
}

func TestGetReadsRecord(t *testing.T) {
	l := newLock(t, fake.NewClientset(userLease(fullSpec())))
	rec, raw, err := l.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := record.Record{HolderIdentity: "a", LeaseDuration: 15 * time.Second, AcquireTime: t0, RenewTime: t0, LeaderTransitions: 4}
	if rec != want {
		t.Errorf("Get = %+v, want %+v", rec, want)
	}
	const wantRaw = `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30.250000Z","renewTime":"2026-11-22T10:15:30.250000Z","leaseTransitions":4}`
	if raw != wantRaw {
		t.Errorf("raw = %s\nwant  %s", raw, wantRaw)
	}
}

// The loop sees a holder as alive while the raw value changes: a renewal
// that moves only renewTime, by a microsecond, must change it.
func TestRawChangesWithAnySpecChange(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(userLease(fullSpec()))
	l := newLock(t, cs)
	_, before, err := l.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, again, _ := l.Get(ctx); again != before {
		t.Fatalf("raw changed without a write: %s, %s", before, again)
	}
	rec, _ := leaselock.RecordFromSpec(fullSpec())
	rec.RenewTime = rec.RenewTime.Add(time.Microsecond)
	if err := l.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, after, _ := l.Get(ctx); after == before {
		t.Fatalf("raw unchanged after renewTime moved: %s", after)
	}
}

func TestSpecFromRecord(t *testing.T) {
	for _, tc := range []struct {
		name        string
		lease       time.Duration
		transitions int
		seconds     int32
		wantTrans   int32
	}{
		{"whole", 15 * time.Second, 3, 15, 3},
		{"rounded up", 2500 * time.Millisecond, 0, 3, 0},
		{"one nanosecond", 1, 0, 1, 0},
		{"clamped", time.Duration(math.MaxInt64), math.MaxInt, math.MaxInt32, math.MaxInt32},
		{"negative transitions", time.Second, -5, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := leaselock.SpecFromRecord(record.Record{HolderIdentity: "a", LeaseDuration: tc.lease, AcquireTime: t0, RenewTime: t0, LeaderTransitions: tc.transitions})
			if err != nil {
				t.Fatal(err)
			}
			if *spec.LeaseDurationSeconds != tc.seconds || *spec.LeaseTransitions != tc.wantTrans {
				t.Errorf("duration %d s, transitions %d; want %d s, %d", *spec.LeaseDurationSeconds, *spec.LeaseTransitions, tc.seconds, tc.wantTrans)
			}
		})
	}
	spec, err := leaselock.SpecFromRecord(record.Record{HolderIdentity: "", LeaseDuration: time.Second})
	if err != nil || spec.HolderIdentity == nil || *spec.HolderIdentity != "" || spec.AcquireTime != nil || spec.RenewTime != nil {
		t.Errorf("a released record with zero times = %+v, %v; want holder \"\" and no times", spec, err)
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := leaselock.SpecFromRecord(record.Record{HolderIdentity: "a", LeaseDuration: d}); err == nil || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("SpecFromRecord with lease %v: %v, want an error naming it", d, err)
		}
	}
}

// Everything on the Lease that is not the record survives writes, the
// coordinated-election fields of the spec included.
func TestWritesKeepEverythingElse(t *testing.T) {
	ctx := context.Background()
	spec := fullSpec()
	spec.Strategy = ptr.To(coordinationv1.OldestEmulationVersion)
	spec.PreferredHolder = ptr.To("b")
	lease := userLease(spec)
	lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u1"}}
	cs := fake.NewClientset(lease)
	l := newLock(t, cs)
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	for _, holder := range []string{"me", "me", ""} { // take, renew, release
		if err := l.Update(ctx, sample(holder)); err != nil {
			t.Fatalf("Update(%q): %v", holder, err)
		}
		got := stored(t, cs)
		if got.Labels["app"] != "operator" || got.Annotations["team"] != "a" || len(got.OwnerReferences) != 1 ||
			got.Spec.Strategy == nil || *got.Spec.Strategy != coordinationv1.OldestEmulationVersion ||
			got.Spec.PreferredHolder == nil || *got.Spec.PreferredHolder != "b" {
			t.Fatalf("after writing holder %q the Lease lost other content: %+v", holder, got)
		}
		if *got.Spec.HolderIdentity != holder || *got.Spec.LeaseDurationSeconds != 17 || *got.Spec.LeaseTransitions != 2 ||
			!got.Spec.AcquireTime.Time.Equal(t0) || !got.Spec.RenewTime.Time.Equal(t0.Add(time.Second)) {
			t.Fatalf("after writing holder %q the spec is %+v", holder, got.Spec)
		}
	}
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	l := newLock(t, cs)
	if err := l.Create(ctx, sample("me")); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := l.Get(ctx); err != nil || rec != sample("me") {
		t.Fatalf("Get after Create = %+v, %v", rec, err)
	}
	if err := l.Create(ctx, sample("me")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second Create: %v, want AlreadyExists", err)
	}
	// Update replaces what Create returned, without a Get in between.
	if err := l.Update(ctx, sample("me")); err != nil {
		t.Fatalf("Update after Create: %v", err)
	}
	if err := l.Create(ctx, record.Record{HolderIdentity: "me"}); err == nil || apierrors.IsAlreadyExists(err) {
		t.Fatalf("Create with no lease duration: %v, want a local error", err)
	}
}

// The fake clientset does not detect stale writes; the real server's 409 is
// shown by TestStaleUpdateConflicts.
func TestUpdateReplacesTheVersionLastSeen(t *testing.T) {
	ctx := context.Background()
	lease := userLease(fullSpec())
	lease.ResourceVersion = "41"
	cs := fake.NewClientset(lease)
	var sent []string
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sent = append(sent, a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).ResourceVersion)
		return false, nil, nil
	})
	l := newLock(t, cs)
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, sample("me")); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0] != "41" {
		t.Fatalf("Update sent resourceVersions %q, want the one read (41)", sent)
	}
}

func TestAPIErrorsStayDistinguishable(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(userLease(fullSpec()))
	cs.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(leases, "lock", errors.New("stale"))
	})
	l := newLock(t, cs)
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, sample("me")); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "ns/lock") {
		t.Fatalf("Update error %v: lost its kind or does not name the lock", err)
	}
}

// A negative duration, which the API server refuses, reads as 0, as
// record.Decode reads one: the loop then waits its own lease duration.
func TestNegativeDurationReadsAsZero(t *testing.T) {
	spec := fullSpec()
	spec.LeaseDurationSeconds = ptr.To[int32](-5)
	rec, err := leaselock.RecordFromSpec(spec)
	if err != nil || rec.LeaseDuration != 0 || rec.HolderIdentity != "a" {
		t.Fatalf("RecordFromSpec = %+v, %v; want holder a with lease 0", rec, err)
	}
}
