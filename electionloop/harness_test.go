package electionloop

// The harness drives candidates on a fake clock. Every candidate's loop waits
// with clock.NewTimer, so the clock is only stepped once every running
// candidate waits on a timer (settle): the time an event is recorded at is
// then exactly the fake time at which the loop acted, and two runs of a test
// see the same history. Real time is only used to poll, with a bound, for
// goroutines to reach their next timer.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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
	cmGR  = schema.GroupResource{Resource: "configmaps"}
	nsGR  = schema.GroupResource{Resource: "namespaces"}
)

// sim is one fake cluster (a fake clientset) and one fake clock shared by the
// candidates of a test.
type sim struct {
	t      *testing.T
	clk    *clocktesting.FakeClock
	client *fake.Clientset

	mu      sync.Mutex
	runners []*runner
}

func newSim(t *testing.T, objs ...k8sruntime.Object) *sim {
	t.Helper()
	s := &sim{t: t, clk: clocktesting.NewFakeClock(t0), client: fake.NewSimpleClientset(objs...)}
	t.Cleanup(s.cleanup)
	return s
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

// settle waits, in real time and with a bound, until quiet.
func (s *sim) settle() {
	s.t.Helper()
	deadline := time.Now().Add(realTimeout)
	for !s.quiet() {
		if time.Now().After(deadline) {
			s.t.Fatalf("at %v: candidates did not reach the clock within %v (waiters: %d)", s.at(), realTimeout, s.clk.Waiters())
		}
		time.Sleep(20 * time.Microsecond)
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
	if leaked := waitNoPackageGoroutines(); leaked != "" {
		s.t.Errorf("goroutines of package electionloop still running after Run returned:\n%s", leaked)
	}
	if s.t.Failed() {
		for _, r := range runners {
			s.t.Logf("%s api: %q", r.id, r.apiEvents())
			s.t.Logf("%s life: %q", r.id, r.lifeEvents())
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
// without going through the clientset's reactors or its action log.
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
	if err := s.client.Tracker().Update(cmGVR, cm, testNamespace); err != nil {
		s.t.Fatalf("update ConfigMap: %v", err)
	}
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
	if err := s.client.Tracker().Update(cmGVR, cm, testNamespace); err != nil {
		s.t.Fatalf("update ConfigMap: %v", err)
	}
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
}

type opt func(*candidateOpts)

func timing(lease, renew, retry time.Duration) opt {
	return func(o *candidateOpts) { o.lease, o.renew, o.retry = lease, renew, retry }
}
func jitter(j float64) opt           { return func(o *candidateOpts) { o.jitter = j } }
func releaseOnCancel() opt           { return func(o *candidateOpts) { o.release = true } }
func holdWork() opt                  { return func(o *candidateOpts) { o.holdWork = true } }
func workReturnsAtOnce() opt         { return func(o *candidateOpts) { o.workReturnsAtOnce = true } }
func nilOnStopped() opt              { return func(o *candidateOpts) { o.nilOnStopped = true } }
func dialect(d record.Dialect) opt   { return func(o *candidateOpts) { o.dialect = d } }
func withLock(l config.Lock) opt     { return func(o *candidateOpts) { o.lock = l } }
func onStarted(f func()) opt         { return func(o *candidateOpts) { o.onStarted = f } }
func onStopped(f func()) opt         { return func(o *candidateOpts) { o.onStopped = f } }
func onNewLeader(f func(string)) opt { return func(o *candidateOpts) { o.onNewLeader = f } }

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
			Namespace: testNamespace, Name: testName, Identity: id, Dialect: o.dialect,
		})
		if err != nil {
			s.t.Fatalf("configmaplock.New: %v", err)
		}
		r.lock = l
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

// renewal is the two calls of a successful attempt on an existing lock.
func renewal(at time.Duration, id string) []string {
	return []string{ev(at, "get"), ev(at, "update("+id+")")}
}

// sec is a readable duration literal: sec(1.5) = 1.5s.
func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

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
