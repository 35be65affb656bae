package migrationlock_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/leaselock"
	"github.com/kubepy/leaderelection/migrationlock"
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

func server(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	controlplane.Require(t, cpErr)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs, controlplane.NewNamespace(context.Background(), t, cs)
}

// leadership is one span of OnStartedLeading: from the call to the moment
// its context ended.
type leadership struct {
	id         string
	start, end time.Time
}

// spans collects the leaderships of a pool.
type spans struct {
	mu   sync.Mutex
	list []leadership
}

// onStarted returns an OnStartedLeading that records a span for id.
func (s *spans) onStarted(id string) func(context.Context) {
	return func(ctx context.Context) {
		start := time.Now()
		<-ctx.Done()
		end := time.Now()
		s.mu.Lock()
		s.list = append(s.list, leadership{id, start, end})
		s.mu.Unlock()
	}
}

// overlaps returns every pair of spans that overlap.
func (s *spans) overlaps() (sorted []leadership, bad []string) {
	s.mu.Lock()
	sorted = slices.Clone(s.list)
	s.mu.Unlock()
	slices.SortFunc(sorted, func(a, b leadership) int { return a.start.Compare(b.start) })
	for i := range sorted {
		for _, later := range sorted[i+1:] {
			if later.start.Before(sorted[i].end) {
				bad = append(bad, fmt.Sprintf("%s led until %s, %s from %s", sorted[i].id, sorted[i].end.Format(time.StampMicro), later.id, later.start.Format(time.StampMicro)))
			}
		}
	}
	return sorted, bad
}

type candidate struct {
	id       string
	e        *electionloop.Elector
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

func start(t *testing.T, id string, lock config.Lock, lease, renew, retry time.Duration, onStarted func(context.Context)) *candidate {
	t.Helper()
	e, err := electionloop.New(config.Config{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
		Callbacks: config.Callbacks{OnStartedLeading: onStarted},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{id: id, e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- e.Run(ctx) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop cancels the candidate and waits for Run to return; later calls do
// nothing.
func (c *candidate) stop(t *testing.T) {
	c.stopOnce.Do(func() {
		c.cancel()
		select {
		case err := <-c.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: Run = %v, want context.Canceled", c.id, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: Run did not return after cancel", c.id)
		}
	})
}

func migrationLock(t *testing.T, cs kubernetes.Interface, ns, id string) *migrationlock.Lock {
	t.Helper()
	l, err := migrationlock.New(cs.CoreV1(), cs.CoordinationV1(), migrationlock.Options{Namespace: ns, Name: "lock", Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func leaseLock(t *testing.T, cs kubernetes.Interface, ns, id string) *leaselock.Lock {
	t.Helper()
	l, err := leaselock.New(cs.CoordinationV1(), leaselock.Options{Namespace: ns, Name: "lock", Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// (a) Step 2: a Python-style record renewed by a live foreign writer keeps a
// migration candidate following, without it writing anything; once the
// writer stops, the candidate takes over after a lease, writing the
// annotation in Python's dialect and the Lease.
func TestRespectsLivePythonHolder(t *testing.T) {
	cs, ns := server(t)
	ctx := context.Background()
	const lease = 3 * time.Second

	// The foreign writer renews as the Python client does: a Python-dialect
	// record, rewritten every second with a new renewTime.
	python, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: ns, Name: "lock", Identity: "python-a"})
	if err != nil {
		t.Fatal(err)
	}
	acquired := time.Now()
	pyRecord := func() record.Record {
		return record.Record{HolderIdentity: "python-a", LeaseDuration: lease, AcquireTime: acquired, RenewTime: time.Now()}
	}
	if err := python.Create(ctx, pyRecord()); err != nil {
		t.Fatal(err)
	}
	writerCtx, stopWriter := context.WithCancel(ctx)
	defer stopWriter()
	var lastWrite time.Time
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for writerCtx.Err() == nil {
			time.Sleep(time.Second)
			if _, _, err := python.Get(writerCtx); err != nil {
				continue
			}
			if err := python.Update(writerCtx, pyRecord()); err == nil {
				lastWrite = time.Now()
			}
		}
	}()

	started := make(chan struct{})
	var once sync.Once
	c := start(t, "go-b", migrationLock(t, cs, ns, "go-b"), lease, 2*time.Second, time.Second, func(ctx context.Context) {
		once.Do(func() { close(started) })
		<-ctx.Done()
	})

	select {
	case <-started:
		t.Fatal("the migration candidate took the lock of a live Python holder")
	case <-time.After(lease + 2*time.Second):
	}
	if got := c.e.GetLeader(); got != "python-a" {
		t.Errorf("GetLeader = %q, want python-a", got)
	}
	if _, err := cs.CoordinationV1().Leases(ns).Get(ctx, "lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a follower wrote the Lease: Get = %v, want NotFound", err)
	}

	stopWriter()
	<-writerDone
	select {
	case <-started:
		if waited := time.Since(lastWrite); waited < lease {
			t.Errorf("took over %v after the last Python write, before the lease of %v ran out", waited, lease)
		}
	case <-time.After(2 * lease):
		t.Fatal("the migration candidate did not take over from a stopped Python holder")
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Python's dialect: the lease as a string, naive times with a space.
	if got := cm.Annotations[record.AnnotationKey]; !strings.HasPrefix(got, `{"holderIdentity": "go-b", "leaseDurationSeconds": "3", "acquireTime": "`) {
		t.Errorf("annotation %s is not the Python dialect naming go-b", got)
	}
	l, err := cs.CoordinationV1().Leases(ns).Get(ctx, "lock", metav1.GetOptions{})
	if err != nil || *l.Spec.HolderIdentity != "go-b" {
		t.Errorf("Lease = %+v, %v; want holder go-b", l, err)
	}
}

// (b) Step 3: migration and Lease-only candidates elect one leader at a time
// through the real API server, on the real clock, while the leader is
// cancelled once without releasing. The spans from OnStartedLeading to the
// end of its context must never overlap. Two pools run side by side:
//
//   - all candidates start at once, so the first round is a race for both
//     objects between kinds that write one or two of them, in which a
//     migration candidate may write the ConfigMap and lose the Lease;
//   - a migration candidate leads first, so Lease-only candidates must see
//     its renewals of the Lease as liveness for six seconds, longer than the
//     lease.
func TestMixedPoolNeverHasTwoLeaders(t *testing.T) {
	t.Run("simultaneous start", func(t *testing.T) {
		t.Parallel()
		mixedPool(t, false)
	})
	t.Run("migration candidate leads first", func(t *testing.T) {
		t.Parallel()
		mixedPool(t, true)
	})
}

func mixedPool(t *testing.T, migrationFirst bool) {
	cs, ns := server(t)
	const lease, renew, retry = 4 * time.Second, 3 * time.Second, time.Second

	var led spans
	var pool []*candidate
	for _, id := range []string{"migration-1", "lease-1", "migration-2", "lease-2"} {
		var lock config.Lock
		if strings.HasPrefix(id, "migration") {
			lock = migrationLock(t, cs, ns, id)
		} else {
			lock = leaseLock(t, cs, ns, id)
		}
		c := start(t, id, lock, lease, renew, retry, led.onStarted(id))
		pool = append(pool, c)
		for migrationFirst && len(pool) == 1 && !c.e.IsLeader() {
			time.Sleep(10 * time.Millisecond) // bounded by the test timeout
		}
	}

	// Sample IsLeader too, as a second witness that sees the loop's state.
	began := time.Now()
	var first *candidate
	doubled := 0 // samples with more than one leader
	for time.Since(began) < 19*time.Second {
		var leaders []string
		for _, c := range pool {
			if c.e.IsLeader() {
				leaders = append(leaders, c.id)
			}
		}
		if len(leaders) > 1 {
			if doubled == 0 {
				t.Errorf("at %v IsLeader is true for %q", time.Since(began).Round(time.Millisecond), leaders)
			}
			doubled++
		}
		if first == nil && time.Since(began) > 6*time.Second {
			if len(leaders) != 1 {
				t.Fatalf("no single leader after 6 s: %q", leaders)
			}
			for _, c := range pool {
				if c.id == leaders[0] {
					first = c
				}
			}
			t.Logf("cancelling the leader %s at %v", first.id, time.Since(began).Round(time.Millisecond))
			first.stop(t)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range pool {
		if c != first {
			c.stop(t)
		}
	}
	if doubled > 1 {
		t.Errorf("%d samples in all had more than one leader", doubled)
	}

	sorted, bad := led.overlaps()
	for _, s := range sorted {
		t.Logf("%-11s led from %v to %v", s.id, s.start.Sub(began).Round(time.Millisecond), s.end.Sub(began).Round(time.Millisecond))
	}
	for _, b := range bad {
		t.Errorf("two leaders: %s", b)
	}
	if len(sorted) < 2 || sorted[0].id != first.id || sorted[1].id == first.id {
		t.Errorf("want the cancelled leader %s followed by another", first.id)
	}
	if migrationFirst && first.id != "migration-1" {
		t.Errorf("%s led at 6 s, want migration-1, which led first and kept renewing", first.id)
	}
	if len(sorted) >= 2 {
		// No release: the successor waits out the lease seen last.
		if gap := sorted[1].start.Sub(sorted[0].end); gap < lease-retry {
			t.Errorf("successor started %v after the cancelled leader, want about a lease (%v)", gap, lease)
		}
	}
}
