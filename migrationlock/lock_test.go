package migrationlock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubepy/leaderelection/leaselock"
	"github.com/kubepy/leaderelection/migrationlock"
	"github.com/kubepy/leaderelection/record"
)

var t0 = time.Date(2026, 11, 22, 10, 15, 30, 0, time.UTC)

func sample(holder string) record.Record {
	return record.Record{HolderIdentity: holder, LeaseDuration: 15 * time.Second, AcquireTime: t0, RenewTime: t0}
}

func newLock(t *testing.T, cs *fake.Clientset, id string) *migrationlock.Lock {
	t.Helper()
	l, err := migrationlock.New(cs.CoreV1(), cs.CoordinationV1(), migrationlock.Options{Namespace: "ns", Name: "lock", Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// leaseOnly is a Lease-only candidate of step 3.
func leaseOnly(t *testing.T, cs *fake.Clientset, id string) *leaselock.Lock {
	t.Helper()
	l, err := leaselock.New(cs.CoordinationV1(), leaselock.Options{Namespace: "ns", Name: "lock", Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func configMap(annotation string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lock", Labels: map[string]string{"app": "operator"}}}
	if annotation != "" {
		cm.Annotations = map[string]string{record.AnnotationKey: annotation}
	}
	return cm
}

func lease(t *testing.T, rec record.Record) *coordinationv1.Lease {
	t.Helper()
	spec, err := leaselock.SpecFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lock"}, Spec: spec}
}

func annotation(t *testing.T, cs *fake.Clientset) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(context.Background(), "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Annotations[record.AnnotationKey]
}

func storedLease(t *testing.T, cs *fake.Clientset) coordinationv1.LeaseSpec {
	t.Helper()
	l, err := cs.CoordinationV1().Leases("ns").Get(context.Background(), "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Spec
}

func TestNewNamesBadValues(t *testing.T) {
	cs := fake.NewClientset()
	_, err := migrationlock.New(cs.CoreV1(), nil, migrationlock.Options{Namespace: "Bad_NS", Name: "lock", Identity: "me"})
	if err == nil {
		t.Fatal("New accepted an invalid namespace and a nil Leases client")
	}
	for _, want := range []string{`"Bad_NS"`, "Leases client is nil"} {
		if strings.Count(err.Error(), want) != 1 {
			t.Errorf("error %q does not name %s once", err, want)
		}
	}
	if _, err := migrationlock.New(nil, cs.CoordinationV1(), migrationlock.Options{Namespace: "ns", Name: "lock", Identity: "me"}); err == nil {
		t.Error("New accepted a nil ConfigMaps client")
	}
}

// Step 2: a Python candidate holds the ConfigMap and no Lease exists yet.
// The migration candidate reads the Python record without error; once it
// writes, the annotation stays Python's and the Lease appears.
func TestFollowsPythonRecordAndCreatesLease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(configMap(record.Python.Encode(sample("python-a"))))
	l := newLock(t, cs, "go-b")
	rec, raw, err := l.Get(ctx)
	if err != nil || rec.HolderIdentity != "python-a" {
		t.Fatalf("Get = %+v, %v; want python-a's record", rec, err)
	}
	if !strings.HasSuffix(raw, " lease=none") {
		t.Errorf("raw %q does not show the missing Lease", raw)
	}
	if err := l.Update(ctx, sample("go-b")); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, want := annotation(t, cs), record.Python.Encode(sample("go-b")); got != want {
		t.Errorf("annotation %s, want the Python dialect %s", got, want)
	}
	if spec := storedLease(t, cs); *spec.HolderIdentity != "go-b" || *spec.LeaseDurationSeconds != 15 {
		t.Errorf("Lease spec %+v, want holder go-b for 15 s", spec)
	}
	// The next renewal replaces the Lease it created.
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, sample("go-b")); err != nil {
		t.Fatalf("second Update: %v", err)
	}
}

func TestCreateWritesBoth(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	l := newLock(t, cs, "me")
	if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
		t.Fatalf("Get without a ConfigMap: %v, want NotFound", err)
	}
	if err := l.Create(ctx, sample("me")); err != nil {
		t.Fatal(err)
	}
	if got := annotation(t, cs); got != record.Python.Encode(sample("me")) {
		t.Errorf("annotation %s", got)
	}
	if spec := storedLease(t, cs); *spec.HolderIdentity != "me" {
		t.Errorf("Lease spec %+v", spec)
	}
	if rec, _, err := l.Get(ctx); err != nil || rec.HolderIdentity != "me" {
		t.Fatalf("Get after Create = %+v, %v", rec, err)
	}
}

// A Lease left over from an earlier run makes Create fail: the candidate
// must not lead before it has seen what the Lease holds.
func TestCreateFailsOnExistingLease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(lease(t, sample("lease-only")))
	l := newLock(t, cs, "me")
	if err := l.Create(ctx, sample("me")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("Create = %v, want AlreadyExists", err)
	}
	if rec, _, err := l.Get(ctx); err != nil || rec.HolderIdentity != "lease-only" {
		t.Fatalf("Get = %+v, %v; want the Lease's holder", rec, err)
	}
}

// A write to either object counts as the holder being alive.
func TestRawChangesWithEitherObject(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(configMap(record.Python.Encode(sample("a"))), lease(t, sample("a")))
	l := newLock(t, cs, "me")
	_, raw0, err := l.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	renewed := sample("a")
	renewed.RenewTime = t0.Add(time.Second)

	other := leaseOnly(t, cs, "a")
	if _, _, err := other.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Update(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	_, raw1, _ := l.Get(ctx)
	if raw1 == raw0 {
		t.Fatal("raw unchanged after the Lease was renewed")
	}

	cm := configMap(record.Python.Encode(renewed))
	if _, err := cs.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, raw2, _ := l.Get(ctx)
	if raw2 == raw1 {
		t.Fatal("raw unchanged after the annotation was renewed")
	}
	if _, raw3, _ := l.Get(ctx); raw3 != raw2 {
		t.Fatal("raw changed without a write")
	}
}

// Get reports the Lease's holder exactly where the annotation would let
// this candidate claim the lock while the Lease names another.
func TestGetWhichRecord(t *testing.T) {
	released := sample("")
	for _, tc := range []struct {
		name       string
		annotation string
		lease      *record.Record // nil: no Lease
		holder     string
		err        error
	}{
		{"both name another", record.Python.Encode(sample("a")), ptr.To(sample("a")), "a", nil},
		{"Lease stale under a Python leader", record.Python.Encode(sample("python")), ptr.To(sample("me")), "python", nil},
		{"annotation names me, Lease another", record.Python.Encode(sample("me")), ptr.To(sample("lease-only")), "lease-only", nil},
		{"annotation deleted, Lease names another", "", ptr.To(sample("lease-only")), "lease-only", nil},
		{"annotation corrupt, Lease names another", "not json", ptr.To(sample("lease-only")), "lease-only", nil},
		{"annotation names me, Lease released", record.Python.Encode(sample("me")), ptr.To(released), "me", nil},
		{"annotation names me, Lease names me", record.Python.Encode(sample("me")), ptr.To(sample("me")), "me", nil},
		{"both released", record.Python.Encode(released), ptr.To(released), "", record.ErrNoRecord},
		{"annotation deleted, no Lease", "", nil, "", record.ErrNoRecord},
		{"annotation corrupt, Lease names me", "not json", ptr.To(sample("me")), "", record.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{configMap(tc.annotation)}
			if tc.lease != nil {
				objs = append(objs, lease(t, *tc.lease))
			}
			rec, _, err := newLock(t, fake.NewClientset(objs...), "me").Get(context.Background())
			if rec.HolderIdentity != tc.holder || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Get = holder %q, %v; want %q, %v", rec.HolderIdentity, err, tc.holder, tc.err)
			}
		})
	}
}

// The annotation has no transition count; the Lease's is carried on.
func TestTransitionsComeFromLease(t *testing.T) {
	withCount := sample("a")
	withCount.LeaderTransitions = 5
	cs := fake.NewClientset(configMap(record.Python.Encode(sample("a"))), lease(t, withCount))
	rec, _, err := newLock(t, cs, "me").Get(context.Background())
	if err != nil || rec.LeaderTransitions != 5 {
		t.Fatalf("Get = %+v, %v; want 5 transitions", rec, err)
	}
}

// The race of step 3: a migration candidate writes the annotation, then
// loses the Lease to a Lease-only candidate that wrote it in between. The
// Update fails, and the next Get must not let it renew "its own" record.
func TestLostLeaseRaceIsNotLeadership(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(configMap(record.Python.Encode(sample("old"))), lease(t, sample("old")))
	// The fake clientset does not detect stale writes: script the 409 the
	// real server returns for a Lease version that is no longer current.
	var leaseWrites []string
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		holder := *a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).Spec.HolderIdentity
		leaseWrites = append(leaseWrites, holder)
		if holder == "me" && len(leaseWrites) == 2 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "lock", errors.New("stale"))
		}
		return false, nil, nil
	})
	m := newLock(t, cs, "me")
	l := leaseOnly(t, cs, "lease-only")
	if _, _, err := m.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, sample("lease-only")); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, sample("me")); !apierrors.IsConflict(err) {
		t.Fatalf("migration Update = %v, want the Lease's Conflict", err)
	}
	if got := annotation(t, cs); !strings.Contains(got, `"me"`) {
		t.Fatalf("annotation %s: the scenario needs the ConfigMap write to have succeeded", got)
	}
	rec, _, err := m.Get(ctx)
	if err != nil || rec.HolderIdentity != "lease-only" {
		t.Fatalf("Get after the lost race = %+v, %v; want the Lease's holder, lease-only", rec, err)
	}
}

// A Lease the last Get found missing is created by Update; one created by
// another candidate since then makes Update fail.
func TestUpdateCreatesMissingLeaseOnlyIfStillMissing(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(configMap(""))
	m := newLock(t, cs, "me")
	if _, _, err := m.Get(ctx); !errors.Is(err, record.ErrNoRecord) {
		t.Fatal(err)
	}
	if err := leaseOnly(t, cs, "lease-only").Create(ctx, sample("lease-only")); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, sample("me")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("Update = %v, want AlreadyExists", err)
	}
	if rec, _, err := m.Get(ctx); err != nil || rec.HolderIdentity != "lease-only" {
		t.Fatalf("Get = %+v, %v; want lease-only", rec, err)
	}
}

// An error reading the Lease other than NotFound, such as missing RBAC, is
// the Get's error: the candidate must not lead without the Lease.
func TestLeaseReadErrorIsAnError(t *testing.T) {
	cs := fake.NewClientset(configMap(record.Python.Encode(sample("a"))))
	cs.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "lock", errors.New("no rights"))
	})
	if _, _, err := newLock(t, cs, "me").Get(context.Background()); !apierrors.IsForbidden(err) {
		t.Fatalf("Get = %v, want Forbidden", err)
	}
}
