package electionloop_test

// Whole elections in one process against a real kube-apiserver and etcd
// (internal/controlplane), on the real clock with short timings. Safety and
// order are asserted strictly from the callbacks' own records; liveness only
// within generous bounds.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/record"
)

// The timings of every elector here: the shortest config allows
// (each ≥ 1 s, RenewDeadline > 1.2 × RetryPeriod).
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second
)

// The control plane is started by the first test that needs it, so the unit
// tests of this package run without it, and stopped by TestMain.
var (
	cpOnce sync.Once
	cp     *controlplane.ControlPlane
	cpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "controlplane: Stop: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// apiServer returns a context for the test and an admin clientset on the
// shared control plane, or ends the test as controlplane.Require says.
func apiServer(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	cpOnce.Do(func() {
		cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
	})
	controlplane.Require(t, cpErr)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, newClientset(t, cp.RESTConfig())
}

func newClientset(t *testing.T, rc *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// lifeEvent is one callback call, stamped with the monotonic clock.
type lifeEvent struct {
	id   string
	kind string // "started", "ctx done" (the work's context ended), "stopped", "returned", "new leader ID"
	at   time.Time
	err  error // for "returned"
}

// life records the callbacks of every elector of a test and lets the test
// wait for them.
type life struct {
	mu      sync.Mutex
	events  []lifeEvent
	changed chan struct{}
	logs    []string // of every elector, shown when the test fails
}

// newLife returns an empty record that shows itself and the electors' logs
// when t fails.
func newLife(t *testing.T) *life {
	l := &life{changed: make(chan struct{})}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("electors' logs:\n%s", strings.Join(l.logs, "\n"))
		}
	})
	return l
}

// logger returns a logger for elector id that keeps its lines at -v 1.
func (l *life) logger(id string) logr.Logger {
	return funcr.New(func(prefix, args string) {
		line := time.Now().Format("15:04:05.000") + " " + id + " " + args
		l.mu.Lock()
		l.logs = append(l.logs, line)
		l.mu.Unlock()
	}, funcr.Options{Verbosity: 1})
}

func (l *life) add(ev lifeEvent) {
	ev.at = time.Now()
	l.mu.Lock()
	l.events = append(l.events, ev)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *life) all() []lifeEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// wait waits up to within for an event at index from or later of that kind
// (and identity, unless id is "").
func (l *life) wait(t *testing.T, from int, kind, id string, within time.Duration) (lifeEvent, int) {
	t.Helper()
	timeout := time.After(within)
	for {
		l.mu.Lock()
		for i := from; i < len(l.events); i++ {
			if ev := l.events[i]; ev.kind == kind && (id == "" || ev.id == id) {
				l.mu.Unlock()
				return ev, i
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no %q event of %q within %v; events:\n%s", kind, id, within, l.dump())
		}
	}
}

func (l *life) dump() string {
	evs := l.all()
	if len(evs) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %-3s %s", ev.at.Format("15:04:05.000"), ev.id, ev.kind)
		if ev.err != nil {
			fmt.Fprintf(&b, ": %v", ev.err)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// checkTerms fails t unless every term (from "started" to "ctx done") ended
// before the next began, and returns the leaders in order. A term still open
// counts as lasting until now.
func (l *life) checkTerms(t *testing.T) []string {
	t.Helper()
	type term struct {
		id         string
		start, end time.Time
	}
	var terms []term
	open := map[string]int{}
	for _, ev := range l.all() {
		switch ev.kind {
		case "started":
			if _, dup := open[ev.id]; dup {
				t.Errorf("%s started leading twice without its context ending", ev.id)
			}
			open[ev.id] = len(terms)
			terms = append(terms, term{id: ev.id, start: ev.at})
		case "ctx done":
			i, ok := open[ev.id]
			if !ok {
				t.Errorf("%s's work context ended while it did not lead", ev.id)
				continue
			}
			terms[i].end = ev.at
			delete(open, ev.id)
		}
	}
	var leaders []string
	for i, tm := range terms {
		leaders = append(leaders, tm.id)
		end := tm.end
		if end.IsZero() {
			end = time.Now()
		}
		for _, next := range terms[i+1:] {
			if next.start.Before(end) {
				t.Errorf("two leaders at once: %s led %s–%s and %s started at %s\n%s", tm.id,
					tm.start.Format("15:04:05.000"), end.Format("15:04:05.000"), next.id, next.start.Format("15:04:05.000"), l.dump())
			}
		}
	}
	return leaders
}

// elector is one candidate running in a goroutine.
type elector struct {
	id     string
	e      *electionloop.Elector
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed

	// writes counts the writes (create, update) the server accepted whose
	// response reached the elector; wrote is signalled after each.
	writes atomic.Int64
	wrote  chan struct{}
}

// waitWrites waits until the elector has seen n accepted writes.
func (el *elector) waitWrites(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for el.writes.Load() < n {
		select {
		case <-el.wrote:
		case <-timeout:
			t.Fatalf("%s: %d accepted writes within %v, want %d", el.id, el.writes.Load(), within, n)
		}
	}
}

// writeCounter counts the accepted writes of one elector.
type writeCounter struct {
	rt http.RoundTripper
	el *elector
}

func (c writeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil && (r.Method == http.MethodPut || r.Method == http.MethodPost) && resp.StatusCode/100 == 2 {
		// Counted once the client has read the whole answer and closed
		// it, not when the headers arrive.
		resp.Body = &countOnClose{ReadCloser: resp.Body, el: c.el}
	}
	return resp, err
}

type countOnClose struct {
	io.ReadCloser
	el   *elector
	eof  bool
	once sync.Once
}

func (b *countOnClose) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *countOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		if !b.eof {
			return
		}
		b.el.writes.Add(1)
		select {
		case b.el.wrote <- struct{}{}:
		default:
		}
	})
	return err
}

type electorOpts struct {
	restConfig *rest.Config // default: admin; its WrapTransport is kept
	logger     logr.Logger  // default: discard
	release    bool
}

// startElector runs a candidate id on the lock ns/name until the test ends or
// it is stopped.
func startElector(ctx context.Context, t *testing.T, lf *life, ns, name, id string, o electorOpts) *elector {
	t.Helper()
	el := &elector{id: id, done: make(chan struct{}), wrote: make(chan struct{}, 1)}
	rc := o.restConfig
	if rc == nil {
		rc = cp.RESTConfig()
	}
	rc = rest.CopyConfig(rc)
	inner := rc.WrapTransport
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if inner != nil {
			rt = inner(rt)
		}
		return writeCounter{rt, el}
	}
	lock, err := configmaplock.New(newClientset(t, rc).CoreV1(), configmaplock.Options{Namespace: ns, Name: name, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	e, err := electionloop.New(config.Config{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: o.release,
		Callbacks: config.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				lf.add(lifeEvent{id: id, kind: "started"})
				<-ctx.Done()
				lf.add(lifeEvent{id: id, kind: "ctx done"})
			},
			OnStoppedLeading: func() { lf.add(lifeEvent{id: id, kind: "stopped"}) },
			OnNewLeader:      func(leader string) { lf.add(lifeEvent{id: id, kind: "new leader " + leader}) },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	logger := o.logger
	if logger.GetSink() == nil {
		logger = lf.logger(id)
	}
	runCtx, cancel := context.WithCancel(logr.NewContext(ctx, logger))
	el.e, el.cancel = e, cancel
	go func() {
		defer close(el.done)
		el.err = e.Run(runCtx)
		lf.add(lifeEvent{id: id, kind: "returned", err: el.err})
	}()
	t.Cleanup(func() { el.stop(t) })
	return el
}

// stop cancels the elector's Run and waits for it to return.
func (el *elector) stop(t *testing.T) error {
	t.Helper()
	el.cancel()
	select {
	case <-el.done:
	case <-time.After(renewDeadline + 5*time.Second):
		t.Errorf("%s: Run did not return %v after its context was cancelled", el.id, renewDeadline+5*time.Second)
	}
	return el.err
}

func byID(els []*elector, id string) *elector {
	for _, el := range els {
		if el.id == id {
			return el
		}
	}
	return nil
}

func holder(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) (string, error) {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	rec, err := record.Decode(cm.Annotations[record.AnnotationKey])
	if errors.Is(err, record.ErrNoRecord) {
		return "", nil
	}
	return rec.HolderIdentity, err
}

// TestAPIServerOneLeaderAtATime runs three electors with ReleaseOnCancel on
// one lock and cancels each leader in turn: the next takes the released lock
// at its next retry, far sooner than a lease, and never while the previous
// leader's work still runs.
func TestAPIServerOneLeaderAtATime(t *testing.T) {
	t.Parallel()
	ctx, cs := apiServer(t)
	ns := controlplane.NewNamespace(ctx, t, cs)
	lf := newLife(t)
	var els []*elector
	for _, id := range []string{"a", "b", "c"} {
		els = append(els, startElector(ctx, t, lf, ns, "lock", id, electorOpts{release: true}))
	}

	// A follower polls every RetryPeriod × [1, 1.2): it takes a released
	// lock within about that. Without the release it would wait a lease.
	const handoverBound = 2500 * time.Millisecond
	first, from := lf.wait(t, 0, "started", "", 10*time.Second)
	leader := first.id
	for round := 1; round <= 2; round++ {
		// A leader renews at once after acquiring, then every
		// RetryPeriod. Cancel it between two renewals: a cancellation
		// during one is TestAPIServerReleaseAfterCancelledRenewal's.
		byID(els, leader).waitWrites(t, 2, 5*time.Second)
		cancelled := time.Now()
		byID(els, leader).cancel()
		next, i := lf.wait(t, from+1, "started", "", leaseDuration+5*time.Second)
		took := next.at.Sub(cancelled)
		t.Logf("handover %d: %s cancelled, %s led %v later", round, leader, next.id, took.Round(time.Millisecond))
		if took > handoverBound {
			t.Errorf("handover %s → %s took %v, want < %v (well under the %v lease)", leader, next.id, took, handoverBound, leaseDuration)
		}
		// Strict order: the old leader's work ended and it stopped
		// leading before the next one started.
		for _, kind := range []string{"ctx done", "stopped"} {
			ev, j := lf.wait(t, 0, kind, leader, time.Second)
			if j > i || !ev.at.Before(next.at) {
				t.Errorf("%s's %q came after %s started leading\n%s", leader, kind, next.id, lf.dump())
			}
		}
		if err := byID(els, leader).stop(t); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Run = %v, want context.Canceled", leader, err)
		}
		leader, from = next.id, i
	}
	byID(els, leader).waitWrites(t, 2, 5*time.Second)
	byID(els, leader).cancel()
	lf.wait(t, from, "returned", leader, renewDeadline+time.Second)

	leaders := lf.checkTerms(t)
	if !slices.Equal(slices.Sorted(slices.Values(leaders)), []string{"a", "b", "c"}) {
		t.Errorf("leaders in order: %v, want each of a, b, c once", leaders)
	}
	for _, el := range els {
		if el.e.IsLeader() {
			t.Errorf("%s: IsLeader after Run returned", el.id)
		}
	}
	// The last leader released the lock on its way out.
	if h, err := holder(ctx, t, cs, ns, "lock"); err != nil || h != "" {
		t.Errorf("holder after the last leader was cancelled: %q, %v; want released", h, err)
	}
}

// countingTransport counts the requests a client makes.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// logEntries collects a funcr JSON logger's lines.
type logEntries struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logEntries) logger() logr.Logger {
	return funcr.NewJSON(func(obj string) {
		var m map[string]any
		if err := json.Unmarshal([]byte(obj), &m); err != nil {
			m = map[string]any{"unparsable": obj}
		}
		l.mu.Lock()
		l.lines = append(l.lines, m)
		l.mu.Unlock()
	}, funcr.Options{Verbosity: 1})
}

// errors returns the messages and errors of the Error calls.
func (l *logEntries) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.lines {
		// Info lines carry a "level"; Error lines do not.
		if _, info := m["level"]; info {
			continue
		}
		if e, ok := m["error"]; ok {
			out = append(out, fmt.Sprintf("%v: %v", m["msg"], e))
		}
	}
	return out
}

// TestAPIServerPersistentErrorsBackOff: a candidate that cannot read the lock
// (RBAC denies it, or its namespace does not exist) keeps trying, but backs
// off: it logs the error once and makes a handful of requests, not one per
// RetryPeriod, and never leads. Cancelling it ends Run at once.
func TestAPIServerPersistentErrorsBackOff(t *testing.T) {
	t.Parallel()
	ctx, cs := apiServer(t)
	// Backoff after a persistent error: RetryPeriod doubling up to 16 ×:
	// attempts at about 0, 1.1, 3.1, 7.1, 15.1 s. Polling every
	// RetryPeriod would make 7 or 8 attempts in this window.
	const window = 8 * time.Second
	for _, tc := range []struct {
		name            string
		user            string
		namespace       func() string
		wantErr         func(error) bool
		wantInLog       []string
		requestsPerPoll int64
	}{
		{"forbidden", controlplane.UnprivilegedUser, func() string { return controlplane.NewNamespace(ctx, t, cs) },
			apierrors.IsForbidden, []string{"forbidden", `User "nobody"`}, 1},
		// Get finds nothing; Create fails for the missing namespace.
		{"missing namespace", controlplane.AdminUser, func() string { return "no-such-namespace" },
			apierrors.IsNotFound, []string{`namespaces "no-such-namespace" not found`}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := tc.namespace()
			var requests atomic.Int64
			rc := cp.RESTConfigFor(tc.user)
			rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &requests} }
			var logs logEntries
			lf := newLife(t)
			runCtx, cancel := context.WithTimeout(ctx, window)
			defer cancel()
			el := startElector(runCtx, t, lf, ns, "lock", "denied", electorOpts{restConfig: rc, logger: logs.logger()})
			<-runCtx.Done()
			ended := time.Now()
			select {
			case <-el.done:
			case <-time.After(time.Second):
				t.Fatalf("Run did not return within 1s of its context ending (it is in backoff)")
			}
			t.Logf("%d requests in %v; Run returned %v after the context ended; error logs: %q",
				requests.Load(), window, time.Since(ended).Round(time.Millisecond), logs.errors())

			if !errors.Is(el.err, context.DeadlineExceeded) {
				t.Errorf("Run = %v, want the context's error", el.err)
			}
			if evs := lf.all(); len(evs) != 1 || evs[0].kind != "returned" {
				t.Errorf("callbacks were called:\n%s", lf.dump())
			}
			// Kept trying: at least the first attempts after 0 s, 1 s, 3 s.
			// No storm: at most the attempts backoff allows, plus one.
			polls := (requests.Load() + tc.requestsPerPoll - 1) / tc.requestsPerPoll
			if polls < 3 || polls > 5 {
				t.Errorf("%d requests (%d per attempt) in %v: want 3 to 5 attempts, backing off from %v",
					requests.Load(), tc.requestsPerPoll, window, retryPeriod)
			}
			errs := logs.errors()
			if len(errs) != 1 {
				t.Fatalf("logged %d errors, want the error once: %q", len(errs), errs)
			}
			for _, want := range append(tc.wantInLog, ns+"/lock") {
				if !strings.Contains(errs[0], want) {
					t.Errorf("the logged error %q does not say %q", errs[0], want)
				}
			}
		})
	}
}

// TestAPIServerLockDeletedWhileHeld: someone deletes the ConfigMap under a
// leader whose followers have seen its record. The leader recreates it and
// stays leader; no follower creates it or leads, before or after.
func TestAPIServerLockDeletedWhileHeld(t *testing.T) {
	t.Parallel()
	ctx, cs := apiServer(t)
	ns := controlplane.NewNamespace(ctx, t, cs)
	lf := newLife(t)
	var els []*elector
	for _, id := range []string{"a", "b", "c"} {
		els = append(els, startElector(ctx, t, lf, ns, "lock", id, electorOpts{release: true}))
	}
	first, _ := lf.wait(t, 0, "started", "", 10*time.Second)
	leader := first.id
	// The followers must have read the leader's record: one that never
	// saw it has no lease to respect.
	for _, el := range els {
		lf.wait(t, 0, "new leader "+leader, el.id, 5*time.Second)
	}

	cms := cs.CoreV1().ConfigMaps(ns)
	old, err := cms.Get(ctx, "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", "lock").String(),
		ResourceVersion: old.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := cms.Delete(ctx, "lock", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()

	// Follow the lock until the new object has been renewed for longer
	// than a lease: a follower that meant to take over would have by then.
	var recreated time.Time
	timeout := time.After(leaseDuration + renewDeadline + 10*time.Second)
	for recreated.IsZero() || time.Since(recreated) <= leaseDuration+retryPeriod {
		var ev watch.Event
		select {
		case ev = <-w.ResultChan():
		case <-timeout:
			t.Fatalf("the lock was not recreated and renewed within %v of the deletion\n%s", time.Since(deleted), lf.dump())
		}
		switch ev.Type {
		case watch.Deleted:
			continue
		case watch.Added, watch.Modified:
		default:
			t.Fatalf("watch: %v %v", ev.Type, ev.Object)
		}
		raw := annotationOf(ev.Object)
		rec, err := record.Decode(raw)
		if err != nil || rec.HolderIdentity != leader {
			t.Fatalf("after the deletion the lock says %q (%v), want held by %s\n%s", raw, err, leader, lf.dump())
		}
		if ev.Type == watch.Added && recreated.IsZero() {
			recreated = time.Now()
			t.Logf("%s recreated the lock %v after the deletion", leader, recreated.Sub(deleted).Round(time.Millisecond))
		}
	}
	if !byID(els, leader).e.IsLeader() {
		t.Errorf("%s does not lead any more", leader)
	}
	for _, el := range els {
		el.stop(t)
	}
	if leaders := lf.checkTerms(t); len(leaders) != 1 {
		t.Errorf("leaders: %v, want %s alone", leaders, leader)
	}
	if err := byID(els, leader).err; !errors.Is(err, context.Canceled) {
		t.Errorf("%s: Run = %v, want context.Canceled: it should have led until cancelled", leader, err)
	}
}

func annotationOf(obj any) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetAnnotations()[record.AnnotationKey]
	}
	return fmt.Sprintf("(not an object: %T)", obj)
}

// appliedButLost lets the server apply one armed PUT, then keeps its
// response from the client until the request's context ends, as when
// SIGTERM cancels a renewal that is already on the wire.
type appliedButLost struct {
	rt      http.RoundTripper
	armed   *atomic.Bool
	applied chan struct{}
}

func (a appliedButLost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPut || !a.armed.CompareAndSwap(true, false) {
		return a.rt.RoundTrip(r)
	}
	resp, err := a.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	close(a.applied)
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestAPIServerReleaseAfterCancelledRenewal: the leader is cancelled while a
// renewal is on the wire; the server applied it, but the leader never saw
// the answer. ReleaseOnCancel must still release the lock, or every
// follower waits a whole lease for nothing.
func TestAPIServerReleaseAfterCancelledRenewal(t *testing.T) {
	t.Parallel()
	ctx, cs := apiServer(t)
	ns := controlplane.NewNamespace(ctx, t, cs)
	lf := newLife(t)
	var armed atomic.Bool
	applied := make(chan struct{})
	rc := cp.RESTConfig()
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return appliedButLost{rt, &armed, applied} }
	a := startElector(ctx, t, lf, ns, "lock", "a", electorOpts{restConfig: rc, release: true})
	lf.wait(t, 0, "started", "a", 10*time.Second)
	a.waitWrites(t, 2, 5*time.Second) // acquired and renewed once
	armed.Store(true)
	select {
	case <-applied:
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal within 5s")
	}
	if err := a.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if h, err := holder(ctx, t, cs, ns, "lock"); err != nil || h != "" {
		t.Errorf("holder after the leader was cancelled with ReleaseOnCancel: %q, %v; want released (\"\")", h, err)
	}
}
