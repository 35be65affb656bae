// Package interop proves, against a real kube-apiserver and the real Python
// client (Debian's python3-kubernetes), that Go candidates of this module and
// Python candidates of kubernetes.leaderelection elect one leader through the
// same ConfigMap lock, and that records written by other clients are read as
// the Python client reads them.
//
// One control plane serves the whole package (TestMain); every test works in
// its own namespace and runs candidates as processes through internal/pool:
// examples/candidate for Go and examples/python/candidate.py over the real
// Python client. Every claim about who led when is judged from the
// candidates' own events (pool.Terms, pool.CheckNoOverlap).
//
// Safety and order are checked strictly; liveness bounds are the ones the
// protocol promises (LeaseDuration + 2 × RetryPeriod after a crash,
// RetryPeriod after a release) plus, where stated, slack for a loaded
// machine.
//
// Tests that need the control plane skip with a loud message when its
// binaries are missing, and so do tests that need the Python client; with
// CI=true both fail instead (controlplane.Require, controlplane.SkipOrFail).
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// The timings of every candidate. Python's Config requires each to be at
// least 1 s and renew_deadline > 1.2 × retry_period.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second

	// failoverBound is how soon after a leader's crash another candidate
	// must lead: the lease, one retry for a follower to see the leader's
	// last write, one more for its poll after the lease has passed.
	failoverBound = leaseDuration + 2*retryPeriod
	// requestSlack covers the requests and process scheduling between a
	// moment the test measures and the one a candidate acted on, for lower
	// (safety) bounds.
	requestSlack = 300 * time.Millisecond
)

var (
	cp       *controlplane.ControlPlane
	cpErr    error
	built    *pool.Pool // examples/candidate, built once
	buildErr error
	pyErr    error // from pool.PythonAvailable
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests spend nearly all their time waiting for leases to pass, so
	// they run together rather than -parallel=GOMAXPROCS at a time, unless
	// the command line says otherwise.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "8")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	start := time.Now()
	cp, cpErr = controlplane.Start(ctx, controlplane.Options{})
	var dir string
	if cpErr == nil {
		fmt.Printf("interop: control plane started in %s\n", time.Since(start).Round(time.Millisecond))
		dir, buildErr = os.MkdirTemp("", "interop-")
		if buildErr == nil {
			built, buildErr = pool.New(ctx, dir)
		}
	}
	cancel()
	pyErr = pool.PythonAvailable()

	code := m.Run()

	if cp != nil {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "interop: stopping the control plane: %v\n", err)
			code = 1
		}
	}
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// requirePython skips or, with CI=true, fails t without the Python client.
func requirePython(t *testing.T) {
	t.Helper()
	if pyErr != nil {
		controlplane.SkipOrFail(t, "the real Python client is missing: %v", pyErr)
	}
}

// env is one test's namespace, clients and pool of candidates.
type env struct {
	t    *testing.T
	ctx  context.Context
	cs   kubernetes.Interface
	ns   string
	pool *pool.Pool
	logs *pool.Logs
	t0   time.Time
}

// setup prepares a test that runs candidates: the control plane, the built
// Go candidate, and the Python client when python is set.
func setup(t *testing.T, python bool) *env {
	t.Helper()
	controlplane.Require(t, cpErr)
	if python {
		requirePython(t)
	}
	if buildErr != nil {
		t.Fatalf("building examples/candidate: %v", buildErr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, cs: cs, pool: built.Fresh(), logs: pool.NewLogs(), t0: time.Now()}
	e.pool.Stderr = e.logs
	e.ns = controlplane.NewNamespace(ctx, t, cs)
	t.Cleanup(func() {
		e.pool.Close()
		if t.Failed() {
			t.Logf("leadership terms (seconds since the test started):\n%s", pool.Timeline(pool.Terms(e.pool.Events()), e.t0))
			t.Logf("events:\n%s", pool.EventDump(e.pool.Events(), e.t0))
			t.Logf("candidate logs:\n%s", e.logs.Dump(e.t0))
		}
	})
	return e
}

// start runs a candidate on lock with the package's timings. Go candidates
// log at -v 1, which names the holder at every poll.
func (e *env) start(kind pool.Kind, identity, lock string, edit ...func(*pool.Spec)) *pool.Candidate {
	e.t.Helper()
	spec := pool.Spec{
		Kind: kind, Identity: identity, Namespace: e.ns, Name: lock,
		Kubeconfig:    cp.KubeconfigPath(),
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
	}
	if kind == pool.Go {
		spec.Args = []string{"-v", "1"}
	}
	for _, f := range edit {
		f(&spec)
	}
	c, err := e.pool.Start(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// waitEvent waits up to within for an event at index from or later that
// matches, or fails the test naming what.
func (e *env) waitEvent(from int, within time.Duration, what string, match func(pool.Event) bool) (pool.Event, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, within)
	defer cancel()
	ev, i, err := e.pool.WaitFor(ctx, from, match)
	if err != nil {
		e.t.Fatalf("no %s within %v: %v", what, within, err)
	}
	return ev, i
}

// waitLeader waits for a started_leading event at index from or later.
func (e *env) waitLeader(from int, within time.Duration) (pool.Event, int) {
	e.t.Helper()
	return e.waitEvent(from, within, "started_leading", func(ev pool.Event) bool { return ev.Event == pool.StartedLeading })
}

// signalled returns the pool's record of the last signal sent to identity.
func (e *env) signalled(identity string) (pool.Event, int) {
	e.t.Helper()
	evs := e.pool.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == pool.Signalled && evs[i].Identity == identity {
			return evs[i], i
		}
	}
	e.t.Fatalf("no signal recorded for %s", identity)
	return pool.Event{}, -1
}

// checkNoOverlap fails the test if two candidates ever led at once, judged
// from every candidate's own events.
func (e *env) checkNoOverlap() []pool.Term {
	e.t.Helper()
	terms := pool.Terms(e.pool.Events())
	if err := pool.CheckNoOverlap(terms, 0); err != nil {
		e.t.Error(err)
	}
	return terms
}

// createLock creates the ConfigMap name with the given annotations, labels
// and data.
func (e *env) createLock(name string, annotations, labels, data map[string]string) *corev1.ConfigMap {
	e.t.Helper()
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations, Labels: labels},
		Data:       data,
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create ConfigMap %s: %v", name, err)
	}
	return cm
}

// getLock reads the ConfigMap name.
func (e *env) getLock(name string) *corev1.ConfigMap {
	e.t.Helper()
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get ConfigMap %s: %v", name, err)
	}
	return cm
}

// annotation reads the raw election record of the lock name.
func (e *env) annotation(name string) string {
	e.t.Helper()
	return e.getLock(name).Annotations[record.AnnotationKey]
}

// writeAnnotation replaces the election record of the lock name, as another
// client would, and returns when the write started and when it was
// acknowledged.
func (e *env) writeAnnotation(name, raw string) (started, done time.Time) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[record.AnnotationKey] = raw
		started = time.Now()
		_, err = e.cs.CoreV1().ConfigMaps(e.ns).Update(e.ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("write the record of %s: %v", name, err)
	}
	return started, time.Now()
}

// rewriteEvery writes next(1), next(2), ... into the lock name every period
// until d has passed, as a live foreign holder renews, and returns when the
// last write started and was acknowledged.
func (e *env) rewriteEvery(name string, period, d time.Duration, next func(i int) string) (lastStarted, lastDone time.Time) {
	e.t.Helper()
	end := time.Now().Add(d)
	for i := 1; ; i++ {
		lastStarted, lastDone = e.writeAnnotation(name, next(i))
		if !time.Now().Add(period).Before(end) {
			return lastStarted, lastDone
		}
		select {
		case <-time.After(period):
		case <-e.ctx.Done():
			e.t.Fatal(e.ctx.Err())
		}
	}
}

// lastRenewal waits a moment after holder was killed, so that no request
// of its is still in flight, and returns the renewTime of its last record:
// the local time at which it started its last renewal. The candidates run
// on this machine, in this process's time zone, so the naive local times of
// the Python dialect are this clock's too.
func (e *env) lastRenewal(lock, holder string) time.Time {
	e.t.Helper()
	e.sleep(500 * time.Millisecond)
	raw := e.annotation(lock)
	r, err := record.Decode(raw)
	if err != nil || r.HolderIdentity != holder {
		e.t.Fatalf("half a second after %s was killed the record is %s (%v): taken over already", holder, raw, err)
	}
	return r.RenewTime
}

// sleep waits d, or fails the test when its context ends first.
func (e *env) sleep(d time.Duration) {
	e.t.Helper()
	select {
	case <-time.After(d):
	case <-e.ctx.Done():
		e.t.Fatal(e.ctx.Err())
	}
}

// eventsOf returns the events of kind kind after index from that match.
func (e *env) eventsOf(from int, kind string, match func(pool.Event) bool) []pool.Event {
	var out []pool.Event
	evs := e.pool.Events()
	for _, ev := range evs[min(from, len(evs)):] {
		if ev.Event == kind && (match == nil || match(ev)) {
			out = append(out, ev)
		}
	}
	return out
}

// Messages the candidates log at each poll that finds the lock validly held
// by another candidate: the Go candidate at -v 1, the Python client at INFO.
const (
	goHeldLog     = "lease held by another candidate"
	pythonHeldLog = "yet to finish lease_duration, lease held by "
	goStartLog    = "candidate is following"
	pythonStart   = " is a follower"
)

// heldLog is what a candidate of kind logs at a poll that finds holder's
// lease valid.
func heldLog(kind pool.Kind, holder string) func(string) bool {
	if kind == pool.Python {
		return func(line string) bool { return strings.Contains(line, pythonHeldLog+holder+" ") }
	}
	return func(line string) bool {
		return strings.Contains(line, goHeldLog) && strings.Contains(line, strconv.Quote(holder))
	}
}

// checkTookAtOnce fails unless the candidate id of kind acquired the lock at
// its first attempt: no poll found the lease held, and it led within one
// RetryPeriod of starting to follow.
func (e *env) checkTookAtOnce(kind pool.Kind, id string, led pool.Event) {
	e.t.Helper()
	startLog := goStartLog
	held := func(line string) bool { return strings.Contains(line, goHeldLog) }
	if kind == pool.Python {
		startLog = id + pythonStart
		held = func(line string) bool { return strings.Contains(line, pythonHeldLog) }
	}
	var following time.Time
	for _, l := range e.logs.Lines(id, time.Time{}) {
		if following.IsZero() && strings.Contains(l.Text, startLog) {
			following = l.At
		}
		if held(l.Text) && l.At.Before(led.Time) {
			e.t.Errorf("%s waited before taking the lock: it logged %q", id, l.Text)
		}
	}
	if following.IsZero() {
		e.t.Errorf("%s never logged %q", id, startLog)
		return
	}
	// The log line's time is when the test received it, later than the
	// candidate wrote it: the measure can only come out short.
	if took := led.Time.Sub(following); took >= retryPeriod {
		e.t.Errorf("%s led %v after it started to follow, want at its first attempt (< RetryPeriod %v)", id, took, retryPeriod)
	}
}

// waitLog waits up to within for a line of identity that matches, or fails
// the test naming what.
func (e *env) waitLog(identity string, within time.Duration, what string, match func(string) bool) pool.LogLine {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, within)
	defer cancel()
	l, err := e.logs.WaitFor(ctx, identity, time.Time{}, match)
	if err != nil {
		e.t.Fatalf("%s did not log %s within %v: %v", identity, what, within, err)
	}
	return l
}

// pyLockObject is what the Python client's ConfigMapLock.get_lock_object
// made of one annotation: its four fields, JSON null where Python has None.
type pyLockObject struct {
	Error                string          `json:"error"`
	HolderIdentity       json.RawMessage `json:"holderIdentity"`
	LeaseDurationSeconds json.RawMessage `json:"leaseDurationSeconds"`
	AcquireTime          json.RawMessage `json:"acquireTime"`
	RenewTime            json.RawMessage `json:"renewTime"`
}

// missing names the fields Python holds as None; a record with any is "no
// record" to leaderelection.py, which then takes the lock at once.
func (o pyLockObject) missing() []string {
	var out []string
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"holderIdentity", o.HolderIdentity}, {"leaseDurationSeconds", o.LeaseDurationSeconds}, {"acquireTime", o.AcquireTime}, {"renewTime", o.RenewTime}} {
		if len(f.v) == 0 || string(f.v) == "null" {
			out = append(out, f.name)
		}
	}
	return out
}

// str returns a field Python holds as a string, or fails.
func (o pyLockObject) str(t *testing.T, v json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		t.Fatalf("Python's field %s is not a string: %v", v, err)
	}
	return s
}

// pyProbe runs the Python client's own reading code: for each annotation
// json.loads and ConfigMapLock.get_lock_object, exactly as
// ConfigMapLock.get does after reading the ConfigMap; with a kubeconfig,
// ConfigMapLock.get itself on the live lock as well.
const pyProbe = `
import json, sys
from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock

def fields(rec):
    return {"holderIdentity": rec.holder_identity, "leaseDurationSeconds": rec.lease_duration,
            "acquireTime": rec.acquire_time, "renewTime": rec.renew_time}

req = json.load(sys.stdin)
# get_lock_object uses no state of the lock; skip __init__'s API client.
lock = ConfigMapLock.__new__(ConfigMapLock)
out = {"objects": []}
for raw in req["annotations"]:
    try:
        out["objects"].append(fields(lock.get_lock_object(json.loads(raw))))
    except Exception as e:
        out["objects"].append({"error": repr(e)})
if req.get("kubeconfig"):
    from kubernetes import config
    config.load_kube_config(config_file=req["kubeconfig"])
    live = ConfigMapLock(req["name"], req["namespace"], "interop-probe")
    ok, rec = live.get(req["name"], req["namespace"])
    if not ok:
        out["live"] = {"error": str(rec)}
    elif rec is None:
        out["live"] = {"error": "get returned no record"}
    else:
        out["live"] = fields(rec)
json.dump(out, sys.stdout)
`

// pythonLockObjects returns what the Python client reads from each
// annotation. With a lock name, it also returns what ConfigMapLock.get reads
// from the live ConfigMap in namespace ns.
func pythonLockObjects(t *testing.T, annotations []string, ns, name string) ([]pyLockObject, pyLockObject) {
	t.Helper()
	requirePython(t)
	req := map[string]any{"annotations": annotations}
	if name != "" {
		req["kubeconfig"], req["namespace"], req["name"] = cp.KubeconfigPath(), ns, name
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Objects []pyLockObject `json:"objects"`
		Live    pyLockObject   `json:"live"`
	}
	runPython(t, pyProbe, in, nil, &out)
	if len(out.Objects) != len(annotations) {
		t.Fatalf("Python read %d annotations, want %d", len(out.Objects), len(annotations))
	}
	return out.Objects, out.Live
}

// runPython runs script with the system Python, stdin in and extra
// environment env, and decodes its stdout as JSON into out.
func runPython(t *testing.T, script string, in []byte, env []string, out any) {
	t.Helper()
	cmd := pythonCommand(script, in, env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("python output %q: %v\n%s", stdout, err, stderr.Bytes())
	}
}

func pythonCommand(script string, in []byte, env []string) *exec.Cmd {
	cmd := exec.Command(pool.PythonInterpreter, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
