package clientgolock_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubepy/leaderelection/clientgolock"
	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// The timings of every candidate, those of the interop tests. client-go
// polls a lock it does not hold every RetryPeriod to (1 + JitterFactor) ×
// RetryPeriod.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second
	lockName      = "lock"

	// maxPoll is the longest wait between two attempts of a follower.
	maxPoll = retryPeriod + time.Duration(leaderelection.JitterFactor*float64(retryPeriod))
	// takeoverBound is how soon after a leader's crash or cancellation
	// another candidate must lead: a poll to see its last write, the
	// lease, a poll after the lease has passed, and slack for a loaded
	// machine.
	takeoverBound = leaseDuration + 2*maxPoll + 2*time.Second
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

// newClient returns a clientset of its own, as a candidate process would
// have, so that client-side rate limits are per candidate.
func newClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	controlplane.Require(t, cpErr)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// leadership records the terms of in-process candidates: a term runs from
// OnStartedLeading until the cancellation of its context, when the candidate
// must stop its work.
type leadership struct {
	mu      sync.Mutex
	terms   []pool.Term
	changed chan struct{} // closed and replaced at each change
}

func newLeadership() *leadership { return &leadership{changed: make(chan struct{})} }

// lead returns an OnStartedLeading callback for identity.
func (l *leadership) lead(identity string) func(context.Context) {
	return func(ctx context.Context) {
		l.mu.Lock()
		i := len(l.terms)
		l.terms = append(l.terms, pool.Term{Identity: identity, Start: time.Now()})
		l.notifyLocked()
		l.mu.Unlock()

		<-ctx.Done()

		l.mu.Lock()
		l.terms[i].End, l.terms[i].EndedBy = time.Now(), "context done"
		l.notifyLocked()
		l.mu.Unlock()
	}
}

func (l *leadership) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *leadership) all() []pool.Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pool.Term(nil), l.terms...)
}

// waitStart waits up to within for a term that starts after since.
func (l *leadership) waitStart(ctx context.Context, since time.Time, within time.Duration) (pool.Term, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		l.mu.Lock()
		for _, term := range l.terms {
			if term.Start.After(since) {
				l.mu.Unlock()
				return term, nil
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return pool.Term{}, errors.New("no candidate started leading")
		}
	}
}

// candidate is one in-process elector running until stop.
type candidate struct {
	identity string
	cancel   context.CancelFunc
	done     chan struct{}
}

// stop cancels the candidate and waits until its Run has returned.
func (c *candidate) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(renewDeadline + 10*time.Second):
		t.Errorf("%s did not return from Run after its context was cancelled", c.identity)
	}
}

// run starts run in a goroutine with a logger for identity, and stops it
// when the test ends, before the logger goes away with the test.
func runCandidate(t *testing.T, identity string, run func(ctx context.Context)) *candidate {
	ctx, cancel := context.WithCancel(t.Context())
	ctx = logr.NewContext(ctx, testr.NewWithOptions(t, testr.Options{LogTimestamp: true}).WithName(identity))
	c := &candidate{identity: identity, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		run(ctx)
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// startClientGo runs client-go's LeaderElector on a clientgolock.Lock,
// releasing the lock when cancelled.
func startClientGo(t *testing.T, ns, identity string, lead *leadership) *candidate {
	t.Helper()
	lock, err := clientgolock.New(newClient(t).CoreV1(), ns, lockName, identity, clientgolock.WithLeaseDuration(leaseDuration))
	if err != nil {
		t.Fatal(err)
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            identity,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: lead.lead(identity),
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return runCandidate(t, identity, le.Run)
}

// startElectionLoop runs this module's elector on a configmaplock.Lock,
// releasing the lock when cancelled if release is set.
func startElectionLoop(t *testing.T, ns, identity string, release bool, lead *leadership) *candidate {
	t.Helper()
	lock, err := configmaplock.New(newClient(t).CoreV1(), configmaplock.Options{Namespace: ns, Name: lockName, Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	e, err := electionloop.New(config.Config{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: release,
		Callbacks:       config.Callbacks{OnStartedLeading: lead.lead(identity)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return runCandidate(t, identity, func(ctx context.Context) { _ = e.Run(ctx) })
}

func annotationOf(t *testing.T, cs kubernetes.Interface, ns string) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), lockName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Annotations[record.AnnotationKey]
}

// pythonTime is str(datetime) of a naive datetime, as Python writes times.
var pythonTime = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$`)

// checkPythonDialect fails t unless raw is exactly what the Python client
// would write for the record it holds, with holder as the holder ("" for a
// released record, which reads as no record), and returns the record.
func checkPythonDialect(t *testing.T, raw, holder string) record.Record {
	t.Helper()
	rec, err := record.Decode(raw)
	if holder == "" && !errors.Is(err, record.ErrNoRecord) || holder != "" && err != nil {
		t.Fatalf("annotation %s decodes with %v", raw, err)
	}
	if rec.HolderIdentity != holder {
		t.Errorf("annotation %s: holder %q, want %q", raw, rec.HolderIdentity, holder)
	}
	if again := record.Python.Encode(rec); again != raw {
		t.Errorf("annotation is not byte for byte the Python dialect:\n%s\nPython writes\n%s", raw, again)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 4 {
		t.Errorf("annotation %s has %d keys, want Python's 4", raw, len(fields))
	}
	if lease, ok := fields["leaseDurationSeconds"].(string); !ok {
		t.Errorf("leaseDurationSeconds is %T %v, want a string", fields["leaseDurationSeconds"], fields["leaseDurationSeconds"])
	} else if _, err := strconv.Atoi(lease); err != nil {
		t.Errorf("leaseDurationSeconds %q is not whole seconds, as client-go writes them", lease)
	}
	for _, key := range []string{"acquireTime", "renewTime"} {
		if s, _ := fields[key].(string); !pythonTime.MatchString(s) {
			t.Errorf("%s %v is not a Python naive time", key, fields[key])
		}
	}
	return rec
}

// (a) client-go's own LeaderElector acquires through the adaptor, renews
// keeping acquireTime, and releases, all in the Python dialect.
func TestLeaderElectorWritesPythonDialect(t *testing.T) {
	t.Parallel()
	cs := newClient(t)
	ns := controlplane.NewNamespace(t.Context(), t, cs)
	lead := newLeadership()
	t0 := time.Now()
	c := startClientGo(t, ns, "client-go-a", lead)
	if _, err := lead.waitStart(t.Context(), t0, maxPoll+2*time.Second); err != nil {
		t.Fatalf("client-go on a missing ConfigMap: %v", err)
	}
	first := annotationOf(t, cs, ns)
	acquired := checkPythonDialect(t, first, "client-go-a")
	if acquired.LeaseDuration != leaseDuration {
		t.Errorf("lease %v, want %v", acquired.LeaseDuration, leaseDuration)
	}

	// A renewal moves renewTime and keeps acquireTime, as Python's does.
	deadline := time.Now().Add(renewDeadline)
	renewed := first
	for renewed == first && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		renewed = annotationOf(t, cs, ns)
	}
	rec := checkPythonDialect(t, renewed, "client-go-a")
	if renewed == first || !rec.AcquireTime.Equal(acquired.AcquireTime) || !rec.RenewTime.After(acquired.RenewTime) {
		t.Errorf("after a renewal:\n%s\nbefore:\n%s\nwant a later renewTime and the same acquireTime", renewed, first)
	}

	c.stop(t)
	checkPythonDialect(t, annotationOf(t, cs, ns), "")
	if terms := lead.all(); len(terms) != 1 || terms[0].End.IsZero() {
		t.Errorf("terms %+v, want one, ended", terms)
	}
}

// The LeaderElector takes Python's "no record" at once and waits a lease,
// after the last change it saw, for a live or unreadable one. Everything
// else in the ConfigMap survives.
func TestLeaderElectorOnExistingRecords(t *testing.T) {
	t.Parallel()
	stamp := time.Now().Add(-time.Hour)
	tests := []struct {
		name       string
		annotation string
		atOnce     bool
	}{
		{"empty", "", true},
		{"released", record.Python.Encode(record.Record{LeaseDuration: time.Second, AcquireTime: stamp, RenewTime: stamp}), true},
		{"incomplete", `{"holderIdentity": "py-old", "leaseDurationSeconds": "4"}`, true},
		// Held by a candidate that is gone: the times are an hour old, but
		// only the reader's own clock counts.
		{"held", record.Python.Encode(record.Record{HolderIdentity: "py-gone", LeaseDuration: 2 * time.Second, AcquireTime: stamp, RenewTime: stamp}), false},
		{"unreadable", "{not json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newClient(t)
			ns := controlplane.NewNamespace(t.Context(), t, cs)
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: lockName, Annotations: map[string]string{
					record.AnnotationKey: tt.annotation,
					"example.com/keep":   "me",
				}},
				Data: map[string]string{"setting": "kept"},
			}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			lead := newLeadership()
			t0 := time.Now()
			startClientGo(t, ns, "client-go-b", lead)
			term, err := lead.waitStart(t.Context(), t0, takeoverBound)
			if err != nil {
				t.Fatalf("within %v: %v", takeoverBound, err)
			}
			took := term.Start.Sub(t0)
			t.Logf("took the lock after %v", took.Round(time.Millisecond))
			switch {
			case tt.atOnce && took >= leaseDuration:
				t.Errorf("took %v, want less than a lease (%v): no record is taken at once", took, leaseDuration)
			case !tt.atOnce && took < leaseDuration:
				t.Errorf("took %v, want at least a lease (%v) after the first read", took, leaseDuration)
			}
			checkPythonDialect(t, annotationOf(t, cs, ns), "client-go-b")
			got, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), lockName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Annotations["example.com/keep"] != "me" || got.Data["setting"] != "kept" {
				t.Errorf("other annotations or data lost: %v, %v", got.Annotations, got.Data)
			}
		})
	}
}

// Update replaces the version that Get read: of two candidates that read the
// same version, the second to write gets the API server's 409.
func TestStaleUpdateConflicts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cs := newClient(t)
	ns := controlplane.NewNamespace(ctx, t, cs)
	lockFor := func(id string) *clientgolock.Lock {
		l, err := clientgolock.New(cs.CoreV1(), ns, lockName, id)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := lockFor("a"), lockFor("b")
	now := metav1.Now()
	ler := func(id string) resourcelock.LeaderElectionRecord {
		return resourcelock.LeaderElectionRecord{HolderIdentity: id, LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}
	}
	if err := a.Create(ctx, ler("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, ler("b")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second Create = %v, want AlreadyExists", err)
	}
	if _, _, err := b.Get(ctx); err != nil {
		t.Fatal(err)
	}
	renewal := ler("a")
	renewal.RenewTime = metav1.NewTime(now.Add(time.Second))
	if err := a.Update(ctx, renewal); err != nil { // replaces a's own Create
		t.Fatal(err)
	}
	if err := b.Update(ctx, ler("b")); !apierrors.IsConflict(err) {
		t.Fatalf("stale Update = %v, want Conflict", err)
	}
	if got, _, err := b.Get(ctx); err != nil || got.HolderIdentity != "a" {
		t.Fatalf("Get = %+v, %v; want holder a", got, err)
	}
}
