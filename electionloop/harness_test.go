package electionloop

// The harness drives candidates on a fake clock. Every candidate's loop waits
// with clock.NewTimer, so the clock is only stepped once every running
// candidate waits on a timer (settle): the time an event is recorded at is
// then exactly the fake time at which the loop acted, and two runs of a test
// see the same history. Real time is only used to poll, with a bound, for
// goroutines to reach their next timer, and by a configmaplock.Watcher,
// whose informer delivers changes on real time: tests with one wait, with a
// bound, for the follower to have read each change (runner.waitRead,
// runner.followWrites) before the clock moves on.
//
// The fake clientset behaves as an API server does on writes of ConfigMaps:
// resourceVersions are set and checked (see writeConfigMap).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/record"
)

// t0 is the fake clock's start: whole seconds, in January, so that the
// Python dialect's naive local times round-trip in every time zone.
var t0 = time.Date(2030, time.January, 15, 12, 0, 0, 0, time.UTC)

const (
	testNamespace = "default"
	testName      = "lock"
	// quantum is the step of advance: the resolution of every recorded time.
	quantum = 10 * time.Millisecond
	// realTimeout bounds every real-time wait for goroutines.
	realTimeout = 10 * time.Second
)

var (
	cmGVR = corev1.SchemeGroupVersion.WithResource("configmaps")
	cmGVK = corev1.SchemeGroupVersion.WithKind("ConfigMap")
	cmGR  = schema.GroupResource{Resource: "configmaps"}
	nsGR  = schema.GroupResource{Resource: "namespaces"}
)

// sim is one fake cluster (a fake clientset) and one fake clock shared by the
// candidates of a test.
type sim struct {
	t      *testing.T
	clk    *clocktesting.FakeClock
	client *fake.Clientset

	// rvMu serializes the writes of ConfigMaps, the candidates' (through
	// the reactors) and the test's own, so that each gets the next
	// resourceVersion and a precondition is checked against the latest.
	rvMu sync.Mutex

	mu      sync.Mutex
	runners []*runner
	after   []func() // run by cleanup once every Run has returned

	// synced, when set, is asked by settle once the candidates wait on
	// the clock. It reports whether work that the fake clock does not see
	// (a Watcher delivering a change, on real time) is done; if not, it
	// waits for it, with a bound, and returns false, and settle starts over.
	synced func() bool
}

// newSim returns a sim whose clientset treats ConfigMaps as an API server
// does (see writeConfigMap) and holds objs.
func newSim(t *testing.T, objs ...k8sruntime.Object) *sim {
	t.Helper()
	s := &sim{t: t, clk: clocktesting.NewFakeClock(t0), client: fake.NewSimpleClientset()}
	for _, obj := range objs {
		var err error
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			_, err = s.writeConfigMap(cm.Namespace, cm, true, false)
		} else {
			err = s.client.Tracker().Add(obj)
		}
		if err != nil {
			t.Fatalf("add %T: %v", obj, err)
		}
	}
	// Prepended first, so a test's own reactors (react, failNext,
	// failWhile), prepended later, run before these.
	s.client.PrependReactor("update", "configmaps", s.updateLikeAPIServer)
	s.client.PrependReactor("create", "configmaps", s.createLikeAPIServer)
	t.Cleanup(s.cleanup)
	return s
}

// ---- resourceVersions as an API server keeps them ----
//
// The fake clientset's tracker counts a resourceVersion per resource but
// neither writes it into the objects it stores nor compares it on update:
// every update wins. The API server sets metadata.resourceVersion on every
// write and refuses, with 409 Conflict, an update whose resourceVersion is
// not the stored one. The harness does the same, for the candidates' writes
// through the clientset and for the writes of the test itself (another
// writer: an intruder, a Python candidate, someone editing the ConfigMap),
// so a write by someone else makes the next update over an older version
// fail as it would in a cluster. The resourceVersion given is the tracker's
// own count, which the List and Watch of an informer use.

// updateLikeAPIServer is the reactor for updates of ConfigMaps.
func (s *sim) updateLikeAPIServer(a k8stesting.Action) (bool, k8sruntime.Object, error) {
	ua, ok := a.(k8stesting.UpdateAction)
	if !ok || ua.GetSubresource() != "" {
		return false, nil, nil
	}
	cm, ok := ua.GetObject().(*corev1.ConfigMap)
	if !ok {
		return false, nil, nil
	}
	// Like the API server for ConfigMaps, an update without a
	// resourceVersion is unconditional; configmaplock always sends one.
	out, err := s.writeConfigMap(ua.GetNamespace(), cm, false, cm.ResourceVersion != "")
	return true, out, err
}

// createLikeAPIServer is the reactor for creations of ConfigMaps.
func (s *sim) createLikeAPIServer(a k8stesting.Action) (bool, k8sruntime.Object, error) {
	ca, ok := a.(k8stesting.CreateAction)
	if !ok || ca.GetSubresource() != "" {
		return false, nil, nil
	}
	cm, ok := ca.GetObject().(*corev1.ConfigMap)
	if !ok {
		return false, nil, nil
	}
	out, err := s.writeConfigMap(ca.GetNamespace(), cm, true, false)
	return true, out, err
}

// writeConfigMap stores cm in namespace ns with the next resourceVersion:
// creating it (AlreadyExists if it exists) or replacing it (NotFound if it
// does not; with precondition, Conflict unless cm's resourceVersion is the
// stored one). It returns a copy of what was stored.
func (s *sim) writeConfigMap(ns string, cm *corev1.ConfigMap, create, precondition bool) (*corev1.ConfigMap, error) {
	s.rvMu.Lock()
	defer s.rvMu.Unlock()
	tracker := s.client.Tracker()
	if ns == "" {
		ns = cm.Namespace
	}
	if !create {
		cur, err := tracker.Get(cmGVR, ns, cm.Name)
		if err != nil {
			return nil, err
		}
		if stored := cur.(*corev1.ConfigMap).ResourceVersion; precondition && cm.ResourceVersion != stored {
			return nil, apierrors.NewConflict(cmGR, cm.Name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
	}
	list, err := tracker.List(cmGVR, cmGVK, "")
	if err != nil {
		return nil, err
	}
	rv, err := strconv.ParseInt(list.(*corev1.ConfigMapList).ResourceVersion, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("tracker resourceVersion: %w", err)
	}
	stored := cm.DeepCopy()
	stored.ResourceVersion = strconv.FormatInt(rv+1, 10)
	if create {
		err = tracker.Create(cmGVR, stored, ns)
	} else {
		err = tracker.Update(cmGVR, stored, ns)
	}
	if err != nil {
		return nil, err
	}
	return stored.DeepCopy(), nil
}

// putConfigMap replaces the stored lock ConfigMap with cm unconditionally,
// as another writer would, without going through the clientset's reactors
// or its action log.
func (s *sim) putConfigMap(cm *corev1.ConfigMap) {
	s.t.Helper()
	if _, err := s.writeConfigMap(testNamespace, cm, false, false); err != nil {
		s.t.Fatalf("update ConfigMap: %v", err)
	}
}

// addConfigMap creates cm as another writer would. Safe in a reactor.
func (s *sim) addConfigMap(cm *corev1.ConfigMap) error {
	_, err := s.writeConfigMap(testNamespace, cm, true, false)
	return err
}

// resourceVersion is the stored lock ConfigMap's, "" when there is none.
func (s *sim) resourceVersion() string {
	s.t.Helper()
	if cm := s.configMap(); cm != nil {
		return cm.ResourceVersion
	}
	return ""
}

// at is the fake time elapsed since t0.
func (s *sim) at() time.Duration { return s.clk.Since(t0) }

// stamp formats an event at the current fake time.
func (s *sim) stamp(format string, args ...any) string {
	return s.at().String() + " " + fmt.Sprintf(format, args...)
}

// quiet reports whether every running candidate waits on the clock (or is
// parked after OnStoppedLeading, waiting for its work or its callbacks) and
// every leader's OnStartedLeading has run.
func (s *sim) quiet() bool {
	s.mu.Lock()
	runners := append([]*runner(nil), s.runners...)
	s.mu.Unlock()
	want := 0
	for _, r := range runners {
		r.mu.Lock()
		running, stopped, started := r.running, r.stopped, r.started
		r.mu.Unlock()
		switch {
		case !running || stopped:
			continue
		case r.e.IsLeader() && !started:
			return false
		}
		want++
	}
	return s.clk.Waiters() == want
}

// settle waits, in real time and with a bound, until quiet and, when the
// test set one, until its synced hook reports nothing left in flight.
func (s *sim) settle() {
	s.t.Helper()
	for {
		deadline := time.Now().Add(realTimeout)
		for !s.quiet() {
			if time.Now().After(deadline) {
				s.t.Fatalf("at %v: candidates did not reach the clock within %v (waiters: %d)", s.at(), realTimeout, s.clk.Waiters())
			}
			time.Sleep(20 * time.Microsecond)
		}
		if s.synced == nil || s.synced() {
			return
		}
	}
}

// advanceTo steps the clock in quanta up to t0+at, settling before each step.
func (s *sim) advanceTo(at time.Duration) {
	s.t.Helper()
	s.settle()
	for s.at() < at {
		s.clk.Step(min(quantum, at-s.at()))
		s.settle()
	}
}

// advance steps the clock by d in quanta.
func (s *sim) advance(d time.Duration) {
	s.t.Helper()
	s.advanceTo(s.at() + d)
}

// jump steps the clock by d at once, as if the process had been frozen.
func (s *sim) jump(d time.Duration) {
	s.t.Helper()
	s.settle()
	s.clk.Step(d)
	s.settle()
}

// advanceUntilDone steps in quanta until r's Run returns, at most max.
func (s *sim) advanceUntilDone(r *runner, max time.Duration) {
	s.t.Helper()
	end := s.at() + max
	s.settle()
	for !r.isDone() {
		if r.isParked() {
			// Stopped leading: Run returns without the clock moving.
			r.wait()
			return
		}
		if s.at() >= end {
			s.t.Fatalf("%s: Run did not return by %v", r.id, end)
		}
		s.clk.Step(quantum)
		s.settle()
	}
}

func (s *sim) cleanup() {
	s.mu.Lock()
	runners := append([]*runner(nil), s.runners...)
	s.mu.Unlock()
	for _, r := range runners {
		if r.cancel != nil {
			r.cancel()
		}
		r.releaseWork()
	}
	deadline := time.Now().Add(realTimeout)
	for _, r := range runners {
		if r.done == nil {
			continue
		}
		for !r.isDone() {
			if time.Now().After(deadline) {
				s.t.Errorf("%s: Run did not return after cancel", r.id)
				return
			}
			// A release that waits for work on the clock: let it run out.
			if s.clk.HasWaiters() {
				s.clk.Step(time.Second)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	s.mu.Lock()
	after := s.after
	s.mu.Unlock()
	for _, f := range after {
		f()
	}
	if leaked := waitNoPackageGoroutines(); leaked != "" {
		s.t.Errorf("goroutines of package electionloop still running after Run returned:\n%s", leaked)
	}
	if s.t.Failed() {
		for _, r := range runners {
			s.t.Logf("%s api: %q", r.id, r.apiEvents())
			s.t.Logf("%s life: %q", r.id, r.lifeEvents())
			if reads := r.readEvents(); reads != nil {
				s.t.Logf("%s reads: %q", r.id, reads)
			}
			for _, l := range r.logs.all() {
				s.t.Logf("%s log: %s", r.id, l)
			}
		}
	}
}

// packageGoroutines returns the stacks of goroutines running code of the
// package under test (not of its tests): the loop, the notifier, and the
// goroutine running OnStartedLeading, created by lead.
func packageGoroutines() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "electionloop.(*Elector)") || strings.Contains(g, "electionloop.(*notifier)") {
			found = append(found, g)
		}
	}
	return strings.Join(found, "\n\n")
}

// waitNoPackageGoroutines waits, with a bound, for the package's goroutines
// to end and returns the stacks of those that did not.
func waitNoPackageGoroutines() string {
	deadline := time.Now().Add(realTimeout)
	for {
		g := packageGoroutines()
		if g == "" || time.Now().After(deadline) {
			return g
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// waitFor polls cond in real time, failing the test after realTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(realTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// ---- ConfigMap fixtures ----

// pyRecord is an annotation as the Python client writes it.
func pyRecord(holder, lease, acquire, renew string) string {
	return fmt.Sprintf(`{"holderIdentity": %q, "leaseDurationSeconds": %q, "acquireTime": %q, "renewTime": %q}`,
		holder, lease, acquire, renew)
}

// configMap returns the lock ConfigMap with the given annotations and the
// extras (other annotation, label, data) that every write must keep.
func configMap(annotations map[string]string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testName, Labels: map[string]string{"app": "demo"}},
		Data:       map[string]string{"config.yaml": "replicas: 3\n"},
	}
	if annotations != nil {
		cm.Annotations = map[string]string{}
		for k, v := range annotations {
			cm.Annotations[k] = v
		}
	}
	return cm
}

// withRecord is configMap with the record raw and another annotation.
func withRecord(raw string) *corev1.ConfigMap {
	return configMap(map[string]string{record.AnnotationKey: raw, "example.com/owner": "team-a"})
}

// configMap returns the stored lock ConfigMap, nil when there is none.
func (s *sim) configMap() *corev1.ConfigMap {
	s.t.Helper()
	obj, err := s.client.Tracker().Get(cmGVR, testNamespace, testName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		s.t.Fatalf("get ConfigMap: %v", err)
	}
	return obj.(*corev1.ConfigMap)
}

// raw returns the stored annotation.
func (s *sim) raw() string {
	s.t.Helper()
	cm := s.configMap()
	if cm == nil {
		s.t.Fatalf("at %v: the lock ConfigMap does not exist", s.at())
	}
	return cm.Annotations[record.AnnotationKey]
}

// record decodes the stored annotation.
func (s *sim) record() (record.Record, error) {
	s.t.Helper()
	return record.Decode(s.raw())
}

// mustRecord decodes the stored annotation, failing on any error.
func (s *sim) mustRecord() record.Record {
	s.t.Helper()
	rec, err := s.record()
	if err != nil {
		s.t.Fatalf("at %v: stored record %q: %v", s.at(), s.raw(), err)
	}
	return rec
}

// setAnnotation rewrites the stored annotation, as another writer would,
// without going through the clientset's reactors or its action log. The
// write bumps the resourceVersion: a candidate's next update over what it
// read or wrote before gets a 409 Conflict.
func (s *sim) setAnnotation(raw string) {
	s.t.Helper()
	cm := s.configMap()
	if cm == nil {
		s.t.Fatalf("setAnnotation: no ConfigMap")
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[record.AnnotationKey] = raw
	s.putConfigMap(cm)
}

// deleteConfigMap deletes the lock ConfigMap behind the candidates' backs.
func (s *sim) deleteConfigMap() {
	s.t.Helper()
	if err := s.client.Tracker().Delete(cmGVR, testNamespace, testName); err != nil {
		s.t.Fatalf("delete ConfigMap: %v", err)
	}
}

// assertExtras checks that the other annotation, the label and the data of
// the fixture ConfigMap survived.
func (s *sim) assertExtras() {
	s.t.Helper()
	cm := s.configMap()
	if cm == nil {
		s.t.Fatalf("at %v: the lock ConfigMap does not exist", s.at())
	}
	if got := cm.Annotations["example.com/owner"]; got != "team-a" {
		s.t.Errorf("at %v: annotation example.com/owner = %q, want team-a (annotations %v)", s.at(), got, cm.Annotations)
	}
	if got := cm.Labels["app"]; got != "demo" {
		s.t.Errorf("at %v: label app = %q, want demo", s.at(), got)
	}
	if got := cm.Data["config.yaml"]; got != "replicas: 3\n" {
		s.t.Errorf("at %v: data config.yaml = %q", s.at(), got)
	}
}

// addExtras adds the extras to the stored ConfigMap, for one created by a
// candidate.
func (s *sim) addExtras() {
	s.t.Helper()
	cm := s.configMap()
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations["example.com/owner"] = "team-a"
	cm.Labels = map[string]string{"app": "demo"}
	cm.Data = map[string]string{"config.yaml": "replicas: 3\n"}
	s.putConfigMap(cm)
}

// react prepends a reactor for verb on configmaps that fails the call with
// the error f returns, or lets it through when f returns nil. Install
// reactors before starting candidates; switch them with f's own state.
func (s *sim) react(verb string, f func(k8stesting.Action) error) {
	s.client.PrependReactor(verb, "configmaps", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		if err := f(a); err != nil {
			return true, nil, err
		}
		return false, nil, nil
	})
}

// failNext fails the next n calls of verb with err.
func (s *sim) failNext(verb string, n int, err error) {
	var left atomic.Int64
	left.Store(int64(n))
	s.react(verb, func(k8stesting.Action) error {
		if left.Add(-1) >= 0 {
			return err
		}
		return nil
	})
}

// failWhile fails every call of verb with err while on is set.
func (s *sim) failWhile(verb string, on *atomic.Bool, err error) {
	s.react(verb, func(k8stesting.Action) error {
		if on.Load() {
			return err
		}
		return nil
	})
}

// actions counts the calls made on the fake clientset.
func (s *sim) actions() int { return len(s.client.Actions()) }

// ---- candidates ----

type candidateOpts struct {
	lease, renew, retry time.Duration
	jitter              float64
	release             bool
	holdWork            bool // OnStartedLeading returns only after releaseWork
	workReturnsAtOnce   bool // OnStartedLeading returns at once, like Python's
	nilOnStopped        bool
	lock                config.Lock
	dialect             record.Dialect
	onStarted           func()
	onStopped           func()
	onNewLeader         func(string)
	metrics             config.Metrics
	watcher             *configmaplock.Watcher
}

type opt func(*candidateOpts)

func timing(lease, renew, retry time.Duration) opt {
	return func(o *candidateOpts) { o.lease, o.renew, o.retry = lease, renew, retry }
}
func jitter(j float64) opt             { return func(o *candidateOpts) { o.jitter = j } }
func releaseOnCancel() opt             { return func(o *candidateOpts) { o.release = true } }
func holdWork() opt                    { return func(o *candidateOpts) { o.holdWork = true } }
func workReturnsAtOnce() opt           { return func(o *candidateOpts) { o.workReturnsAtOnce = true } }
func nilOnStopped() opt                { return func(o *candidateOpts) { o.nilOnStopped = true } }
func dialect(d record.Dialect) opt     { return func(o *candidateOpts) { o.dialect = d } }
func withLock(l config.Lock) opt       { return func(o *candidateOpts) { o.lock = l } }
func onStarted(f func()) opt           { return func(o *candidateOpts) { o.onStarted = f } }
func onStopped(f func()) opt           { return func(o *candidateOpts) { o.onStopped = f } }
func onNewLeader(f func(string)) opt   { return func(o *candidateOpts) { o.onNewLeader = f } }
func withMetrics(m config.Metrics) opt { return func(o *candidateOpts) { o.metrics = m } }

// watchedBy makes the candidate's configmaplock read through w's cache and
// wake on its changes; its reads are recorded apart (runner.readEvents).
func watchedBy(w *configmaplock.Watcher) opt { return func(o *candidateOpts) { o.watcher = w } }

// runner is one candidate with recorded history.
type runner struct {
	s    *sim
	id   string
	e    *Elector
	lock config.Lock
	opts candidateOpts
	logs *logSink

	hold     chan struct{}
	holdOnce sync.Once

	mu           sync.Mutex
	api          []string // the lock's API calls and their results
	reads        []string // a watching lock's reads of its cache
	lastRead     string   // the raw value of the latest of them
	life         []string // OnStartedLeading and OnStoppedLeading
	leaders      []string // OnNewLeader, in call order
	leaderGIDs   map[string]bool
	inflight     int // OnNewLeader calls running
	running      bool
	started      bool
	stopped      bool
	workCtx      context.Context
	workReturned bool
	stopCtxDone  bool // whether the work's context was done when OnStoppedLeading ran
	stopWorkDone bool // whether the work had returned when OnStoppedLeading ran

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// candidate makes a candidate with identity id; by default LeaseDuration 5s,
// RenewDeadline 3s, RetryPeriod 1s, jitter 0, and a configmaplock over the
// sim's clientset whose calls are recorded.
func (s *sim) candidate(id string, options ...opt) *runner {
	s.t.Helper()
	o := candidateOpts{lease: 5 * time.Second, renew: 3 * time.Second, retry: time.Second}
	for _, f := range options {
		f(&o)
	}
	r := &runner{s: s, id: id, opts: o, logs: &logSink{}, hold: make(chan struct{}), leaderGIDs: map[string]bool{}}
	r.lock = o.lock
	if r.lock == nil {
		l, err := configmaplock.New(recordingGetter{s.client.CoreV1(), r}, configmaplock.Options{
			Namespace: testNamespace, Name: testName, Identity: id, Dialect: o.dialect, Watcher: o.watcher,
		})
		if err != nil {
			s.t.Fatalf("configmaplock.New: %v", err)
		}
		r.lock = l
		if o.watcher != nil {
			r.lock = readRecordingLock{l, r}
		}
	}
	cb := config.Callbacks{
		OnStartedLeading: r.onStartedLeading,
		OnStoppedLeading: r.onStoppedLeading,
		OnNewLeader:      r.onNewLeader,
	}
	if o.nilOnStopped {
		cb.OnStoppedLeading = nil
	}
	e, err := New(config.Config{
		Lock:            r.lock,
		LeaseDuration:   o.lease,
		RenewDeadline:   o.renew,
		RetryPeriod:     o.retry,
		Callbacks:       cb,
		ReleaseOnCancel: o.release,
		Clock:           s.clk,
		Metrics:         o.metrics,
	})
	if err != nil {
		s.t.Fatalf("New: %v", err)
	}
	e.jitter = func() float64 { return o.jitter }
	r.e = e
	s.mu.Lock()
	s.runners = append(s.runners, r)
	s.mu.Unlock()
	return r
}

// start calls Run in a new goroutine.
func (r *runner) start() {
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logr.New(r.logs)))
	r.mu.Lock()
	r.cancel = cancel
	r.done = make(chan struct{})
	r.running, r.started, r.stopped, r.workReturned = true, false, false, false
	done := r.done
	r.mu.Unlock()
	go func() {
		err := r.e.Run(ctx)
		r.mu.Lock()
		r.err = err
		r.running = false
		if r.started && !r.workReturned {
			r.s.t.Errorf("%s: Run returned before OnStartedLeading did", r.id)
		}
		if r.inflight != 0 {
			r.s.t.Errorf("%s: Run returned while OnNewLeader was running", r.id)
		}
		r.mu.Unlock()
		close(done)
	}()
}

func (r *runner) onStartedLeading(ctx context.Context) {
	// The hook runs before started is set: settle waits for started, so
	// the hook sees the fake time at which leadership began.
	if r.opts.onStarted != nil {
		r.opts.onStarted()
	}
	r.mu.Lock()
	r.started = true
	r.workCtx = ctx
	r.life = append(r.life, r.s.stamp("started"))
	r.mu.Unlock()
	if !r.opts.workReturnsAtOnce {
		<-ctx.Done()
		if r.opts.holdWork {
			<-r.hold
		}
	}
	r.mu.Lock()
	r.workReturned = true
	r.mu.Unlock()
}

func (r *runner) onStoppedLeading() {
	// The hook runs before stopped is set: once stopped, settle no longer
	// waits for this candidate, and the clock may move.
	if r.opts.onStopped != nil {
		r.opts.onStopped()
	}
	r.mu.Lock()
	r.stopped = true
	r.life = append(r.life, r.s.stamp("stopped"))
	r.stopCtxDone = r.workCtx != nil && r.workCtx.Err() != nil
	r.stopWorkDone = r.workReturned
	if !r.stopCtxDone {
		r.s.t.Errorf("%s: OnStoppedLeading ran before the work's context was cancelled", r.id)
	}
	if r.e.IsLeader() {
		r.s.t.Errorf("%s: IsLeader() during OnStoppedLeading", r.id)
	}
	r.mu.Unlock()
}

func (r *runner) onNewLeader(id string) {
	r.mu.Lock()
	r.inflight++
	if r.inflight > 1 {
		r.s.t.Errorf("%s: OnNewLeader called concurrently", r.id)
	}
	r.leaders = append(r.leaders, id)
	r.leaderGIDs[goroutineID()] = true
	r.mu.Unlock()
	if r.opts.onNewLeader != nil {
		r.opts.onNewLeader(id)
	}
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
}

// releaseWork lets a held OnStartedLeading return.
func (r *runner) releaseWork() { r.holdOnce.Do(func() { close(r.hold) }) }

func (r *runner) isDone() bool {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// isParked reports whether OnStoppedLeading ran in the latest Run: it
// returns then without the clock moving.
func (r *runner) isParked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// wait waits, with a bound, for Run to return and returns its error.
func (r *runner) wait() error {
	r.s.t.Helper()
	select {
	case <-r.done:
	case <-time.After(realTimeout):
		r.s.t.Fatalf("%s: Run did not return", r.id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// cancelLeader cancels the Run of a leader and waits until it noticed, so
// that no step of the clock races with the cancellation (the loop's timer
// and ctx.Done would both be ready).
func (r *runner) cancelLeader() {
	r.s.t.Helper()
	r.cancel()
	waitFor(r.s.t, r.id+" to notice the cancellation", func() bool { return !r.e.IsLeader() || r.isDone() })
}

// stop cancels Run's context and waits for Run to return.
func (r *runner) stop() error {
	r.s.t.Helper()
	r.cancel()
	return r.wait()
}

func (r *runner) apiEvent(e string) {
	r.mu.Lock()
	r.api = append(r.api, e)
	r.mu.Unlock()
}

func (r *runner) apiEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.api...)
}

func (r *runner) lifeEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.life...)
}

func (r *runner) newLeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.leaders...)
}

// waitLeaders waits for OnNewLeader to have been called n times.
func (r *runner) waitLeaders(n int) []string {
	r.s.t.Helper()
	waitFor(r.s.t, fmt.Sprintf("%d OnNewLeader calls", n), func() bool { return len(r.newLeaders()) >= n })
	return r.newLeaders()
}

func (r *runner) readEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reads...)
}

// waitRead waits until the candidate's latest read of its cache returned
// raw, then settles: the candidate has acted on it at the current fake time.
func (r *runner) waitRead(raw string) {
	r.s.t.Helper()
	waitFor(r.s.t, r.id+" to read "+raw, func() bool { return r.latestRead() == raw })
	r.s.settle()
}

func (r *runner) latestRead() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastRead
}

// followWrites makes settle wait, after every write, until the watching
// follower r has woken and read it: the Watcher delivers on real time, and
// the fake clock must not move before r acted at the moment of the write.
func (r *runner) followWrites() {
	r.s.synced = func() bool {
		raw := r.s.raw()
		if r.latestRead() == raw {
			return true
		}
		waitFor(r.s.t, r.id+" to read "+raw, func() bool { return r.latestRead() == raw })
		return false
	}
}

// apiSince returns the API events recorded from index i on.
func (r *runner) apiSince(i int) []string { return r.apiEvents()[i:] }

// ---- recording the lock's API calls ----

// recordingGetter wraps the clientset so that each candidate's calls are
// recorded with the fake time and their outcome.
type recordingGetter struct {
	inner corev1client.ConfigMapsGetter
	r     *runner
}

func (g recordingGetter) ConfigMaps(ns string) corev1client.ConfigMapInterface {
	return recordingConfigMaps{g.inner.ConfigMaps(ns), g.r}
}

type recordingConfigMaps struct {
	corev1client.ConfigMapInterface
	r *runner
}

func (c recordingConfigMaps) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error) {
	cm, err := c.ConfigMapInterface.Get(ctx, name, opts)
	c.r.apiEvent(c.r.s.stamp("get%s", outcome(err)))
	return cm, err
}

func (c recordingConfigMaps) Create(ctx context.Context, cm *corev1.ConfigMap, opts metav1.CreateOptions) (*corev1.ConfigMap, error) {
	holder := writtenHolder(cm)
	out, err := c.ConfigMapInterface.Create(ctx, cm, opts)
	c.r.apiEvent(c.r.s.stamp("create(%s)%s", holder, outcome(err)))
	return out, err
}

func (c recordingConfigMaps) Update(ctx context.Context, cm *corev1.ConfigMap, opts metav1.UpdateOptions) (*corev1.ConfigMap, error) {
	holder := writtenHolder(cm)
	out, err := c.ConfigMapInterface.Update(ctx, cm, opts)
	c.r.apiEvent(c.r.s.stamp("update(%s)%s", holder, outcome(err)))
	return out, err
}

// readRecordingLock is a watching configmaplock whose reads, served from the
// Watcher's cache, are recorded as "read(holder)" with their outcome.
type readRecordingLock struct {
	*configmaplock.Lock
	r *runner
}

func (l readRecordingLock) Get(ctx context.Context) (record.Record, string, error) {
	rec, raw, err := l.Lock.Get(ctx)
	ev := l.r.s.stamp("read(%s)%s", rec.HolderIdentity, readOutcome(err))
	l.r.mu.Lock()
	l.r.reads = append(l.r.reads, ev)
	l.r.lastRead = raw
	l.r.mu.Unlock()
	return rec, raw, err
}

// readOutcome is outcome, naming the errors of a readable object.
func readOutcome(err error) string {
	switch {
	case errors.Is(err, record.ErrNoRecord):
		return " -> no record"
	case errors.Is(err, record.ErrMalformed):
		return " -> malformed"
	}
	return outcome(err)
}

// writtenHolder is the holder in a record being written; "" for a release.
func writtenHolder(cm *corev1.ConfigMap) string {
	rec, err := record.Decode(cm.Annotations[record.AnnotationKey])
	if err != nil && !errors.Is(err, record.ErrNoRecord) {
		return "MALFORMED"
	}
	return rec.HolderIdentity
}

// outcome is "" for success, " -> Reason" for an API error, " -> error" else.
func outcome(err error) string {
	switch {
	case err == nil:
		return ""
	case apierrors.ReasonForError(err) != metav1.StatusReasonUnknown:
		return " -> " + string(apierrors.ReasonForError(err))
	default:
		return " -> error"
	}
}

func goroutineID() string {
	var buf [64]byte
	return strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))[1]
}

// ---- logs ----

// logSink records every log call, at every verbosity.
type logSink struct {
	mu      sync.Mutex
	entries []logEntry
}

type logEntry struct {
	err   error // nil for Info
	level int
	msg   string
}

func (e logEntry) String() string {
	if e.err != nil {
		return fmt.Sprintf("ERROR %s: %v", e.msg, e.err)
	}
	return fmt.Sprintf("V(%d) %s", e.level, e.msg)
}

var _ logr.LogSink = (*logSink)(nil)

func (l *logSink) Init(logr.RuntimeInfo)          {}
func (l *logSink) Enabled(int) bool               { return true }
func (l *logSink) WithValues(...any) logr.LogSink { return l }
func (l *logSink) WithName(string) logr.LogSink   { return l }

func (l *logSink) Info(level int, msg string, _ ...any) {
	l.mu.Lock()
	l.entries = append(l.entries, logEntry{level: level, msg: msg})
	l.mu.Unlock()
}

func (l *logSink) Error(err error, msg string, _ ...any) {
	if err == nil {
		err = errors.New("<nil>")
	}
	l.mu.Lock()
	l.entries = append(l.entries, logEntry{err: err, msg: msg})
	l.mu.Unlock()
}

func (l *logSink) all() []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logEntry(nil), l.entries...)
}

// errors returns the messages of the Error calls.
func (l *logSink) errors() []string {
	var out []string
	for _, e := range l.all() {
		if e.err != nil {
			out = append(out, e.msg)
		}
	}
	return out
}

// infos returns the messages of the Info calls at level.
func (l *logSink) infos(level int) []string {
	var out []string
	for _, e := range l.all() {
		if e.err == nil && e.level == level {
			out = append(out, e.msg)
		}
	}
	return out
}

// ---- assertions ----

func assertEvents(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

// seq builds the expected events "<t> <what>" for t in from, from+step, ...
// up to and including to.
func seq(from, to, step time.Duration, what ...string) []string {
	var out []string
	for at := from; at <= to; at += step {
		for _, w := range what {
			out = append(out, at.String()+" "+w)
		}
	}
	return out
}

// ev is one expected event.
func ev(at time.Duration, what string) string { return at.String() + " " + what }

// cat concatenates expected event lists.
func cat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// attempt is the two calls of a successful tryAcquireOrRenew on an existing
// lock: read, then write our record.
func attempt(at time.Duration, id string) []string {
	return []string{ev(at, "get"), ev(at, "update("+id+")")}
}

// acquired is a successful acquisition of an existing lock at at and the
// first renewal, at once: a blind update over what was just written.
func acquired(at time.Duration, id string) []string {
	return append(attempt(at, id), ev(at, "update("+id+")"))
}

// created is the acquisition of a missing lock and the first renewal.
func created(at time.Duration, id string) []string {
	return []string{ev(at, "get -> NotFound"), ev(at, "create("+id+")"), ev(at, "update("+id+")")}
}

// renewals is a leader's blind renewals from from to to, one update each
// RetryPeriod of 1s.
func renewals(from, to time.Duration, id string) []string {
	return seq(from, to, time.Second, "update("+id+")")
}

// conflicted is a blind renewal that got 409 because someone else wrote,
// then read the record, found it still ours, and wrote it: one attempt.
func conflicted(at time.Duration, id string) []string {
	return []string{ev(at, "update("+id+") -> Conflict"), ev(at, "get"), ev(at, "update("+id+")")}
}

// sec is a readable duration literal: sec(1.5) = 1.5s, to the nanosecond
// (rounded: 4.1 × 1e9 is 4099999999.9999995 in floating point).
func sec(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// assertRecord checks holder and times of a decoded record.
func assertRecord(t *testing.T, rec record.Record, holder string, lease, acquired, renewed time.Duration) {
	t.Helper()
	if rec.HolderIdentity != holder {
		t.Errorf("record holder = %q, want %q", rec.HolderIdentity, holder)
	}
	if rec.LeaseDuration != lease {
		t.Errorf("record lease = %v, want %v", rec.LeaseDuration, lease)
	}
	if !rec.AcquireTime.Equal(t0.Add(acquired)) {
		t.Errorf("record acquireTime = t0%+v, want t0+%v", rec.AcquireTime.Sub(t0), acquired)
	}
	if !rec.RenewTime.Equal(t0.Add(renewed)) {
		t.Errorf("record renewTime = t0%+v, want t0+%v", rec.RenewTime.Sub(t0), renewed)
	}
}

// ---- a scripted lock ----

// scriptLock is a config.Lock over a store that the test controls: the test
// writes as another candidate would (write), Update fails with a 409 when
// the store changed since this lock last read or wrote it, as over the API
// server, and every call is recorded with the fake time. With a changes
// channel it is a watching lock (config.Watching): the test pokes it as a
// Watcher would, and Get stands for a read of the cache.
type scriptLock struct {
	s       *sim
	id      string
	changes chan struct{} // nil: not watching

	mu        sync.Mutex
	exists    bool
	raw       string
	version   int // of the store
	seen      int // the version this lock last read or wrote
	getErr    error
	updateErr error
	onUpdate  func() // called at the start of every Update, without mu
	calls     []string
	gets      int
}

var (
	_ config.Lock     = (*scriptLock)(nil)
	_ config.Watching = (*scriptLock)(nil)
)

// newScriptLock returns a lock for id over a store holding raw; watching
// gives it a changes channel.
func newScriptLock(s *sim, id, raw string, watching bool) *scriptLock {
	l := &scriptLock{s: s, id: id, exists: true, raw: raw, version: 1}
	if watching {
		l.changes = make(chan struct{}, 1)
	}
	return l
}

func (l *scriptLock) Changes() <-chan struct{} {
	if l.changes == nil {
		return nil // a nil channel of the right type, not a nil interface
	}
	return l.changes
}

func (l *scriptLock) Get(context.Context) (record.Record, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gets++
	var (
		rec record.Record
		raw string
		err error
	)
	switch {
	case l.getErr != nil:
		err = l.getErr
	case !l.exists:
		err = apierrors.NewNotFound(cmGR, testName)
	default:
		l.seen, raw = l.version, l.raw
		rec, err = record.Decode(raw)
	}
	l.calls = append(l.calls, l.s.stamp("get%s", readOutcome(err)))
	return rec, raw, err
}

func (l *scriptLock) Create(_ context.Context, rec record.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.exists {
		err = apierrors.NewAlreadyExists(cmGR, testName)
	} else {
		l.exists, l.raw = true, record.Python.Encode(rec)
		l.version++
		l.seen = l.version
	}
	l.calls = append(l.calls, l.s.stamp("create(%s)%s", rec.HolderIdentity, outcome(err)))
	return err
}

func (l *scriptLock) Update(_ context.Context, rec record.Record) error {
	l.mu.Lock()
	hook := l.onUpdate
	l.mu.Unlock()
	if hook != nil {
		hook()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.updateErr
	switch {
	case err != nil:
	case !l.exists:
		err = apierrors.NewNotFound(cmGR, testName)
	case l.seen != l.version:
		err = errConflict
	default:
		l.raw = record.Python.Encode(rec)
		l.version++
		l.seen = l.version
	}
	l.calls = append(l.calls, l.s.stamp("update(%s)%s", rec.HolderIdentity, outcome(err)))
	return err
}

func (l *scriptLock) Identity() string { return l.id }
func (l *scriptLock) Describe() string { return testNamespace + "/" + testName }

// write stores raw as another writer would and, when watching, pokes the
// candidate, as a Watcher does on every change.
func (l *scriptLock) write(raw string) {
	l.mu.Lock()
	l.exists, l.raw = true, raw
	l.version++
	l.mu.Unlock()
	l.poke()
}

// poke tells a watching candidate that something may have changed.
func (l *scriptLock) poke() {
	if l.changes == nil {
		return
	}
	select {
	case l.changes <- struct{}{}:
	default:
	}
}

func (l *scriptLock) setGetErr(err error) {
	l.mu.Lock()
	l.getErr = err
	l.mu.Unlock()
}

func (l *scriptLock) history() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func (l *scriptLock) getCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gets
}

// writeAndWaitRead writes raw, pokes, and waits until the candidate has read
// it and settled: it woke on the change at the current fake time.
func (l *scriptLock) writeAndWaitRead(raw string) {
	l.s.t.Helper()
	n := l.getCount()
	l.write(raw)
	waitFor(l.s.t, "a read after the poke", func() bool { return l.getCount() > n })
	l.s.settle()
}

// ---- a Watcher over the sim's clientset ----

// newWatcher returns a Watcher of the lock ConfigMap over the sim's
// clientset (its list and watch are recorded as actions, not as any
// candidate's API calls). Make the candidates' locks, then runWatcher.
func (s *sim) newWatcher() *configmaplock.Watcher {
	s.t.Helper()
	w, err := configmaplock.NewWatcher(s.client.CoreV1(), configmaplock.WatcherOptions{Namespace: testNamespace, Name: testName})
	if err != nil {
		s.t.Fatalf("NewWatcher: %v", err)
	}
	return w
}

// runWatcher runs w, on real time, until the candidates' Runs have returned
// at cleanup, and waits for its cache to sync.
func (s *sim) runWatcher(w *configmaplock.Watcher) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	s.mu.Lock()
	s.after = append(s.after, func() {
		cancel()
		select {
		case <-done:
		case <-time.After(realTimeout):
			s.t.Errorf("the Watcher did not stop")
		}
	})
	s.mu.Unlock()
	syncCtx, syncCancel := context.WithTimeout(ctx, realTimeout)
	defer syncCancel()
	if err := w.WaitForSync(syncCtx); err != nil {
		s.t.Fatalf("WaitForSync: %v", err)
	}
}

// drainPoke waits for the one poke the Watcher's first listing gives to a
// lock and takes it, so that every later poke is for a later change.
func (s *sim) drainPoke(l config.Watching) {
	s.t.Helper()
	ch := l.Changes()
	waitFor(s.t, "the poke of the first listing", func() bool { return len(ch) == 1 })
	<-ch
}

// verbs returns the verb of every call made on the fake clientset.
func (s *sim) verbs() []string {
	var out []string
	for _, a := range s.client.Actions() {
		out = append(out, a.GetVerb())
	}
	return out
}

// count is how many of the calls on the fake clientset had verb.
func (s *sim) count(verb string) int {
	n := 0
	for _, v := range s.verbs() {
		if v == verb {
			n++
		}
	}
	return n
}

// ---- metrics ----

// metricsRecorder is a config.Metrics that records each call with the fake
// time.
type metricsRecorder struct {
	s *sim

	mu     sync.Mutex
	events []string
	took   []time.Duration
	errs   []error // of Renewed
}

var _ config.Metrics = (*metricsRecorder)(nil)

func (m *metricsRecorder) add(format string, args ...any) {
	m.mu.Lock()
	m.events = append(m.events, m.s.stamp(format, args...))
	m.mu.Unlock()
}

func (m *metricsRecorder) Leading(leading bool) { m.add("leading=%v", leading) }

func (m *metricsRecorder) Renewed(took time.Duration, err error) {
	m.mu.Lock()
	m.took = append(m.took, took)
	m.errs = append(m.errs, err)
	m.mu.Unlock()
	switch {
	case err == nil:
		m.add("renewed")
	case errors.Is(err, errHeldByOther):
		m.add("renewal failed: held by another")
	default:
		m.add("renewal failed: %s", ErrorKind(err))
	}
}

func (m *metricsRecorder) APIError(kind string) { m.add("api error %s", kind) }

func (m *metricsRecorder) history() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.events...)
}
