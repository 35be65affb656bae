package leaselock_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/leaselock"
	"github.com/kubepy/leaderelection/record"
)

var (
	cp    *controlplane.ControlPlane
	cpErr error
)

func TestMain(m *testing.M) {
	cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
	code := m.Run()
	if cp != nil {
		cp.Stop()
	}
	os.Exit(code)
}

// server returns a clientset for the shared API server and a new namespace.
func server(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	controlplane.Require(t, cpErr)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs, controlplane.NewNamespace(context.Background(), t, cs)
}

func lockFor(t *testing.T, cs kubernetes.Interface, ns, id string) *leaselock.Lock {
	t.Helper()
	l, err := leaselock.New(cs.CoordinationV1(), leaselock.Options{Namespace: ns, Name: "lock", Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Of two candidates that read the same version, only the first write
// succeeds; the second gets the server's 409.
func TestStaleUpdateConflicts(t *testing.T) {
	ctx := context.Background()
	cs, ns := server(t)
	a, b := lockFor(t, cs, ns, "a"), lockFor(t, cs, ns, "b")
	if err := a.Create(ctx, sample("a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx); err != nil {
		t.Fatal(err)
	}
	// A renewal: a write that changes nothing would keep the version.
	renewal := sample("a")
	renewal.RenewTime = renewal.RenewTime.Add(time.Second)
	if err := a.Update(ctx, renewal); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, sample("b")); !apierrors.IsConflict(err) {
		t.Fatalf("stale Update: %v, want Conflict", err)
	}
	if rec, _, err := b.Get(ctx); err != nil || rec.HolderIdentity != "a" {
		t.Fatalf("Get = %+v, %v; want holder a", rec, err)
	}
	if err := b.Update(ctx, sample("b")); err != nil {
		t.Fatalf("Update after a fresh Get: %v", err)
	}
}

// client-go's own LeaseLock reads what we write, and we read what it writes,
// through the real API server's serialization (MicroTime keeps microseconds).
func TestClientGoLeaseLockInterop(t *testing.T) {
	ctx := context.Background()
	cs, ns := server(t)
	ours := lockFor(t, cs, ns, "ours")
	theirs := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: "lock"},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "theirs"},
	}

	acquired := time.Date(2026, 11, 22, 10, 15, 30, 123_456_789, time.UTC)
	written := record.Record{HolderIdentity: "ours", LeaseDuration: 2500 * time.Millisecond, AcquireTime: acquired, RenewTime: acquired.Add(time.Second), LeaderTransitions: 7}
	if err := ours.Create(ctx, written); err != nil {
		t.Fatal(err)
	}
	ler, _, err := theirs.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ler.HolderIdentity != "ours" || ler.LeaseDurationSeconds != 3 || ler.LeaderTransitions != 7 ||
		!ler.AcquireTime.Time.Equal(acquired.Truncate(time.Microsecond)) || !ler.RenewTime.Time.Equal(acquired.Add(time.Second).Truncate(time.Microsecond)) {
		t.Fatalf("client-go read %+v from our record %+v", ler, written)
	}

	// client-go renews as a new holder would; we read its record.
	renewed := metav1.NewTime(acquired.Add(5 * time.Second))
	ler.HolderIdentity, ler.LeaseDurationSeconds, ler.RenewTime, ler.LeaderTransitions = "theirs", 15, renewed, 8
	if err := theirs.Update(ctx, *ler); err != nil {
		t.Fatal(err)
	}
	got, _, err := ours.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// client-go kept acquireTime as it read it, to the microsecond.
	want := record.Record{HolderIdentity: "theirs", LeaseDuration: 15 * time.Second, AcquireTime: acquired.Truncate(time.Microsecond), RenewTime: renewed.Time.Truncate(time.Microsecond), LeaderTransitions: 8}
	if got.HolderIdentity != want.HolderIdentity || got.LeaseDuration != want.LeaseDuration || got.LeaderTransitions != want.LeaderTransitions ||
		!got.AcquireTime.Equal(want.AcquireTime) || !got.RenewTime.Equal(want.RenewTime) {
		t.Fatalf("we read %+v from client-go's record, want %+v", got, want)
	}

	// client-go's release (empty holder) is no record for us: taken at once.
	ler.HolderIdentity = ""
	if err := theirs.Update(ctx, *ler); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ours.Get(ctx); !errors.Is(err, record.ErrNoRecord) {
		t.Fatalf("Get of client-go's released Lease: %v, want ErrNoRecord", err)
	}
	// And our release is one for client-go: it reads an empty holder.
	if err := ours.Update(ctx, record.Record{LeaseDuration: time.Second, AcquireTime: acquired, RenewTime: acquired}); err != nil {
		t.Fatal(err)
	}
	if ler, _, err := theirs.Get(ctx); err != nil || ler.HolderIdentity != "" {
		t.Fatalf("client-go read %+v, %v from our release", ler, err)
	}
}

// Two Electors on one Lease: one leads, and a release on cancel hands the
// Lease to the other at its next attempt instead of after a whole lease.
func TestElectionHandsOverOnRelease(t *testing.T) {
	cs, ns := server(t)
	started := make(chan string, 2)
	newElector := func(id string) *electionloop.Elector {
		e, err := electionloop.New(config.Config{
			Lock:            lockFor(t, cs, ns, id),
			LeaseDuration:   3 * time.Second,
			RenewDeadline:   2 * time.Second,
			RetryPeriod:     time.Second,
			ReleaseOnCancel: true,
			Callbacks: config.Callbacks{OnStartedLeading: func(ctx context.Context) {
				started <- id
				<-ctx.Done()
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneA := make(chan error, 1)
	go func() { doneA <- newElector("a").Run(ctxA) }()
	if id := <-started; id != "a" {
		t.Fatalf("%s leads, want a", id)
	}
	doneB := make(chan error, 1)
	go func() { doneB <- newElector("b").Run(ctxB) }()
	time.Sleep(1500 * time.Millisecond) // b follows for at least one attempt
	cancelA()
	released := time.Now()
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Fatalf("a's Run = %v", err)
	}
	select {
	case id := <-started:
		if waited := time.Since(released); id != "b" || waited > 2500*time.Millisecond {
			t.Fatalf("%s took over %v after the release, want b within a retry", id, waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not take the released Lease")
	}
	cancelB()
	<-doneB
}
