package clientgolock_test

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
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	k8srecord "k8s.io/client-go/tools/record"

	"github.com/kubepy/leaderelection/clientgolock"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/record"
)

func newLock(t *testing.T, cs *fake.Clientset, opts ...clientgolock.Option) *clientgolock.Lock {
	t.Helper()
	l, err := clientgolock.New(cs.CoreV1(), "ns", "lock", "me", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// withAnnotation returns a clientset holding the ConfigMap ns/lock with the
// record annotation set to raw, or without it when raw is nil.
func withAnnotation(raw *string) *fake.Clientset {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lock"}}
	if raw != nil {
		cm.Annotations = map[string]string{record.AnnotationKey: *raw}
	}
	return fake.NewClientset(cm)
}

func annotation(t *testing.T, cs *fake.Clientset) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(context.Background(), "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Annotations[record.AnnotationKey]
}

func TestNewNamesBadValues(t *testing.T) {
	_, err := clientgolock.New(fake.NewClientset().CoreV1(), "Bad_NS", "lock", "", clientgolock.WithLeaseDuration(500*time.Millisecond))
	if err == nil {
		t.Fatal("New accepted a bad namespace, an empty identity and a 500ms lease")
	}
	for _, want := range []string{`"Bad_NS"`, "Lock.Identity is empty", "500ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := clientgolock.New(fake.NewClientset().CoreV1(), "ns", "lock", clientgolock.UnreadableHolder); err == nil {
		t.Errorf("New accepted the identity %q", clientgolock.UnreadableHolder)
	}
}

func TestGetMissingConfigMapIsNotFound(t *testing.T) {
	// client-go's LeaderElector creates the lock on NotFound only.
	_, _, err := newLock(t, fake.NewClientset()).Get(context.Background())
	if !apierrors.IsNotFound(err) {
		t.Fatalf("Get = %v, want NotFound", err)
	}
}

// What client-go writes is stored in the Python dialect and reads back the
// same, but for what the dialect drops.
func TestCreateWritesPythonAndReadsBack(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	l := newLock(t, cs, clientgolock.WithLeaseDuration(time.Second))
	acquired := time.Date(2026, 11, 22, 10, 15, 30, 250_000_400, time.Local)
	renewed := acquired.Add(10 * time.Second)
	ler := resourcelock.LeaderElectionRecord{
		HolderIdentity:       "me",
		LeaseDurationSeconds: 17,
		AcquireTime:          metav1.NewTime(acquired),
		RenewTime:            metav1.NewTime(renewed),
		LeaderTransitions:    3,
		Strategy:             coordinationv1.OldestEmulationVersion,
		PreferredHolder:      "other",
	}
	if err := l.Create(ctx, ler); err != nil {
		t.Fatal(err)
	}
	want := record.Python.Encode(record.Record{HolderIdentity: "me", LeaseDuration: 17 * time.Second, AcquireTime: acquired, RenewTime: renewed})
	raw := annotation(t, cs)
	if raw != want {
		t.Fatalf("annotation\n%s\nwant the Python dialect\n%s", raw, want)
	}
	if !strings.Contains(raw, `"leaseDurationSeconds": "17"`) {
		t.Errorf("annotation %s: the lease is not the string \"17\"", raw)
	}

	got, gotRaw, err := l.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotRaw) != raw {
		t.Errorf("Get raw = %q, want the annotation %q", gotRaw, raw)
	}
	// Python's times have microseconds; the transitions, the strategy and
	// the preferred holder are not stored.
	wantLER := resourcelock.LeaderElectionRecord{
		HolderIdentity:       "me",
		LeaseDurationSeconds: 17,
		AcquireTime:          metav1.NewTime(acquired.Truncate(time.Microsecond)),
		RenewTime:            metav1.NewTime(renewed.Truncate(time.Microsecond)),
	}
	if !got.AcquireTime.Equal(&wantLER.AcquireTime) || !got.RenewTime.Equal(&wantLER.RenewTime) {
		t.Errorf("Get times = %v, %v; want %v, %v", got.AcquireTime, got.RenewTime, wantLER.AcquireTime, wantLER.RenewTime)
	}
	got.AcquireTime, got.RenewTime = wantLER.AcquireTime, wantLER.RenewTime
	if *got != wantLER {
		t.Errorf("Get = %+v, want %+v", *got, wantLER)
	}
}

func TestGetMapsPythonRecords(t *testing.T) {
	valid := `{"holderIdentity": "py-1", "leaseDurationSeconds": "2.5", "acquireTime": "2026-11-22 10:15:30.250000", "renewTime": "2026-11-22 10:15:40"}`
	released := `{"holderIdentity": "", "leaseDurationSeconds": "1", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:30"}`
	incomplete := `{"holderIdentity": "py-1", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30"}`
	empty, corrupt, array := "", "not json {", "[1, 2]"
	tests := []struct {
		name       string
		annotation *string
		lease      time.Duration // WithLeaseDuration
		holder     string
		seconds    int
	}{
		{"valid, fractional lease rounded up", &valid, time.Second, "py-1", 3},
		{"valid, lease raised to ours", &valid, 15 * time.Second, "py-1", 15},
		{"annotation absent", nil, 4 * time.Second, "", 4},
		{"annotation empty", &empty, 4 * time.Second, "", 4},
		{"released", &released, 4 * time.Second, "", 4},
		{"incomplete", &incomplete, 4 * time.Second, "", 15},
		{"not JSON", &corrupt, 4 * time.Second, clientgolock.UnreadableHolder, 4},
		{"not an object", &array, 9 * time.Second, clientgolock.UnreadableHolder, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLock(t, withAnnotation(tt.annotation), clientgolock.WithLeaseDuration(tt.lease))
			got, raw, err := l.Get(context.Background())
			if err != nil {
				t.Fatalf("Get: %v; client-go would retry forever instead of deciding", err)
			}
			if got.HolderIdentity != tt.holder || got.LeaseDurationSeconds != tt.seconds {
				t.Errorf("Get = holder %q, lease %d s; want %q, %d s", got.HolderIdentity, got.LeaseDurationSeconds, tt.holder, tt.seconds)
			}
			wantRaw := ""
			if tt.annotation != nil {
				wantRaw = *tt.annotation
			}
			if string(raw) != wantRaw {
				t.Errorf("raw = %q, want the annotation %q", raw, wantRaw)
			}
		})
	}
}

// A LeaderElector with a LeaseDuration under a second writes a zero lease,
// which would make every follower's wait zero.
func TestWritesRefuseNonPositiveLease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	l := newLock(t, cs)
	now := metav1.Now()
	err := l.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me", AcquireTime: now, RenewTime: now})
	if err == nil || !strings.Contains(err.Error(), "0 seconds") {
		t.Fatalf("Create with a zero lease = %v, want an error naming 0 seconds", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused Create created the ConfigMap: %v", err)
	}
}

func TestUpdateBeforeReadFails(t *testing.T) {
	empty := ""
	l := newLock(t, withAnnotation(&empty))
	now := metav1.Now()
	err := l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me", LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now})
	if !errors.Is(err, configmaplock.ErrNotRead) {
		t.Fatalf("Update before Get = %v, want configmaplock.ErrNotRead", err)
	}
}

// The release client-go writes is Python's "no record".
func TestReleaseIsNoRecord(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	l := newLock(t, cs)
	now := metav1.Now()
	if err := l.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me", LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}); err != nil {
		t.Fatal(err)
	}
	// What LeaderElector.release writes.
	if err := l.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1, AcquireTime: now, RenewTime: now}); err != nil {
		t.Fatal(err)
	}
	raw := annotation(t, cs)
	if _, err := record.Decode(raw); !errors.Is(err, record.ErrNoRecord) {
		t.Errorf("released annotation %s decodes with %v, want ErrNoRecord", raw, err)
	}
	if !strings.HasPrefix(raw, `{"holderIdentity": "", "leaseDurationSeconds": "1", `) {
		t.Errorf("released annotation %s is not the Python dialect", raw)
	}
}

func TestRecordEvent(t *testing.T) {
	fr := k8srecord.NewFakeRecorder(2)
	l, err := clientgolock.New(fake.NewClientset().CoreV1(), "ns", "lock", "pod-%d", clientgolock.WithEventRecorder(fr))
	if err != nil {
		t.Fatal(err)
	}
	l.RecordEvent("became leader")
	if got, want := <-fr.Events, "Normal LeaderElection pod-%d became leader"; got != want {
		t.Errorf("event %q, want %q", got, want)
	}
	newLock(t, fake.NewClientset()).RecordEvent("became leader") // no recorder: no event, no panic
}

func TestIdentityAndDescribe(t *testing.T) {
	l := newLock(t, fake.NewClientset())
	if l.Identity() != "me" || l.Describe() != "ns/lock" {
		t.Errorf("Identity, Describe = %q, %q; want me, ns/lock", l.Identity(), l.Describe())
	}
}
