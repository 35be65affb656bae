// Package faults proves, against a real kube-apiserver and etcd and the real
// Python client, that faults and bad input never make two leaders and never
// lose anything of the user's: the API server or etcd going away, one
// candidate cut off or slowed down by a proxy (internal/netproxy), a leader
// frozen with SIGSTOP past its lease, storms of candidates, the lock deleted
// or overwritten by hand, and bad identities, names, users, servers,
// certificates and records. A seeded soak mixes the faults at random.
//
// One control plane serves the package (TestMain); the tests that stop the
// API server or etcd get a control plane of their own, so that they can run
// beside the others. Every test works in its own namespace, runs candidates
// as processes through internal/pool (examples/candidate for Go,
// examples/python/candidate.py over the real Python client), and gives each
// candidate, where the test cuts or counts its traffic, a proxy of its own
// and a kubeconfig that points at it (TLS passes through the proxy).
//
// Safety is judged strictly from every candidate's own events (pool.Terms,
// pool.CheckNoOverlap with no tolerance, except the documented instant a
// leader resumed after SIGCONT needs to notice it lost its lease); liveness
// within generous bounds, since the machine is small and shared.
//
//	go test -race ./faults/                                   # about 90 s
//	go test -run TestSoak -soak=10m -timeout 20m ./faults/    # a longer soak
//	SOAK_SEED=N SOAK_DURATION=2m go test -run TestSoak ./faults/  # replay a soak
//	SOAK_DUMP=1 ...                                           # and print every event and log line
//	FAULTS_BUGS=1 go test -run TestSlowAcquisition ./faults/  # a known library bug, failing
package faults

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// The timings of every candidate unless a test says otherwise: the shortest
// the Python rules allow (each ≥ 1 s, RenewDeadline > 1.2 × RetryPeriod).
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second

	// failoverBound is how soon after a leader stopped renewing another
	// must lead: the lease, one retry for a follower to see the last
	// write, one more for its poll after the lease has passed.
	failoverBound = leaseDuration + 2*retryPeriod
	// slack is added to liveness bounds for a loaded 2-core machine.
	slack = 2 * time.Second
)

var (
	cp       *controlplane.ControlPlane
	cpErr    error
	built    *pool.Pool // examples/candidate, built once
	buildErr error
	pyErr    error // from pool.PythonAvailable

	soakFlag = flag.Duration("soak", 0, "run TestSoak this long (default: $SOAK_DURATION, else 60s)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests spend nearly all their time waiting for leases to pass.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "16")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	start := time.Now()
	cp, cpErr = controlplane.Start(ctx, controlplane.Options{})
	var dir string
	if cpErr == nil {
		fmt.Printf("faults: control plane started in %s\n", time.Since(start).Round(time.Millisecond))
		dir, buildErr = os.MkdirTemp("", "faults-")
		if buildErr == nil {
			built, buildErr = pool.New(ctx, dir)
		}
	}
	cancel()
	pyErr = pool.PythonAvailable()

	code := m.Run()

	for _, c := range []*controlplane.ControlPlane{cp, outageCP} {
		if c != nil {
			if err := c.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "faults: stopping a control plane: %v\n", err)
				code = 1
			}
		}
	}
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

func requirePython(t *testing.T) {
	t.Helper()
	if pyErr != nil {
		controlplane.SkipOrFail(t, "the real Python client is missing: %v", pyErr)
	}
}

// env is one test's control plane, namespace, clients, proxies and pool.
type env struct {
	t    *testing.T
	ctx  context.Context
	cp   *controlplane.ControlPlane
	cs   kubernetes.Interface
	ns   string
	pool *pool.Pool
	logs *pool.Logs
	t0   time.Time
	dir  string

	mu      sync.Mutex
	proxies map[string]*netproxy.Proxy // by candidate identity
}

// setup prepares a test on the shared control plane.
func setup(t *testing.T, python bool) *env {
	t.Helper()
	controlplane.Require(t, cpErr)
	return setupOn(t, cp, python)
}

// setupOn prepares a test on the control plane c.
func setupOn(t *testing.T, c *controlplane.ControlPlane, python bool) *env {
	t.Helper()
	if python {
		requirePython(t)
	}
	if buildErr != nil {
		t.Fatalf("building examples/candidate: %v", buildErr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	t.Cleanup(cancel)
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, cp: c, cs: cs, pool: built.Fresh(), logs: pool.NewLogs(), t0: time.Now(),
		dir: t.TempDir(), proxies: map[string]*netproxy.Proxy{}}
	e.pool.Stderr = e.logs
	e.ns = controlplane.NewNamespace(ctx, t, cs)
	t.Cleanup(func() {
		e.pool.Close()
		e.mu.Lock()
		for _, p := range e.proxies {
			p.Close()
		}
		e.mu.Unlock()
		if t.Failed() {
			t.Logf("leadership terms (seconds since the test started):\n%s", pool.Timeline(pool.Terms(e.pool.Events()), e.t0))
			t.Logf("events:\n%s", pool.EventDump(e.pool.Events(), e.t0))
			t.Logf("candidate logs:\n%s", e.logs.Dump(e.t0))
		}
	})
	return e
}

// candidate options for start.
type opt func(*pool.Spec, *env)

// viaProxy gives the candidate a proxy of its own (see env.proxy).
func viaProxy() opt {
	return func(s *pool.Spec, e *env) {
		s.Kubeconfig = e.kubeconfigVia(e.proxy(s.Identity).Addr(), controlplane.AdminUser)
	}
}

// withSpec edits the spec.
func withSpec(f func(*pool.Spec)) opt { return func(s *pool.Spec, _ *env) { f(s) } }

// start runs a candidate on lock with the package's timings. Go candidates
// log at -v 1, which names every renewal and the holder at every poll.
func (e *env) start(kind pool.Kind, identity, lock string, opts ...opt) *pool.Candidate {
	e.t.Helper()
	spec := pool.Spec{
		Kind: kind, Identity: identity, Namespace: e.ns, Name: lock,
		Kubeconfig:    e.cp.KubeconfigPath(),
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
	}
	if kind == pool.Go {
		spec.Args = []string{"-v", "1"}
	}
	for _, o := range opts {
		o(&spec, e)
	}
	c, err := e.pool.Start(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// proxy returns the proxy of the candidate identity, creating it in front
// of the API server on first use; it lives as long as the test, across
// restarts of the candidate.
func (e *env) proxy(identity string) *netproxy.Proxy {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.proxies[identity]; ok {
		return p
	}
	u, err := url.Parse(e.cp.Host())
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := netproxy.New(u.Host)
	if err != nil {
		e.t.Fatal(err)
	}
	e.proxies[identity] = p
	return p
}

// kubeconfigVia writes a kubeconfig for user whose server is https://addr,
// with the control plane's CA, and returns its path.
func (e *env) kubeconfigVia(addr, user string) string {
	e.t.Helper()
	src, err := e.cp.KubeconfigFor(user)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.rewriteKubeconfig(src, func(c *clientcmdapi.Cluster) { c.Server = "https://" + addr })
}

// rewriteKubeconfig copies the kubeconfig src with its cluster edited.
func (e *env) rewriteKubeconfig(src string, edit func(*clientcmdapi.Cluster)) string {
	e.t.Helper()
	cfg, err := clientcmd.LoadFromFile(src)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		edit(cl)
	}
	f, err := os.CreateTemp(e.dir, "kubeconfig-*")
	if err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	if err := clientcmd.WriteToFile(*cfg, f.Name()); err != nil {
		e.t.Fatal(err)
	}
	return f.Name()
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

// waitStopped waits for identity's stopped_leading or exit at index from or
// later.
func (e *env) waitStopped(identity string, from int, within time.Duration) (pool.Event, int) {
	e.t.Helper()
	return e.waitEvent(from, within, identity+" stopping", func(ev pool.Event) bool {
		return ev.Identity == identity && (ev.Event == pool.StoppedLeading || ev.Event == pool.Exited)
	})
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
// from every candidate's own events and extra terms (of in-process
// electors), allowing a term resumed after SIGCONT resumedTolerance.
func (e *env) checkNoOverlap(resumedTolerance time.Duration, extra ...pool.Term) []pool.Term {
	e.t.Helper()
	terms := append(pool.Terms(e.pool.Events()), extra...)
	if err := pool.CheckNoOverlap(terms, resumedTolerance); err != nil {
		e.t.Errorf("%v\nterms:\n%s", err, pool.Timeline(terms, e.t0))
	}
	return terms
}

// eventsOf returns the events of kind after index from that match.
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

// sleep waits d, or fails the test when its context ends first.
func (e *env) sleep(d time.Duration) {
	e.t.Helper()
	select {
	case <-time.After(d):
	case <-e.ctx.Done():
		e.t.Fatal(e.ctx.Err())
	}
}

// What a user keeps in the lock's ConfigMap besides the election record.
var (
	userLabels      = map[string]string{"app.kubernetes.io/name": "my-operator"}
	userData        = map[string]string{"settings.yaml": "replicas: 3\n"}
	userAnnotations = map[string]string{"example.com/owner": "team-a", "example.com/note": `quotes " and \ stay`}
)

// userLock creates the ConfigMap name holding the user's labels, data and
// annotations, and the election record raw unless it is "".
func (e *env) userLock(name, raw string) {
	e.t.Helper()
	ann := maps.Clone(userAnnotations)
	if raw != "" {
		ann[record.AnnotationKey] = raw
	}
	e.createLock(name, ann, maps.Clone(userLabels), maps.Clone(userData))
}

// createLock creates the ConfigMap name.
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

// checkUserContent fails the test unless the ConfigMap name still holds
// exactly the user's labels and data, and the user's annotations besides
// the record (plus extra, when given).
func (e *env) checkUserContent(name string, extra ...map[string]string) {
	e.t.Helper()
	cm := e.getLock(name)
	want := maps.Clone(userAnnotations)
	for _, x := range extra {
		maps.Copy(want, x)
	}
	got := maps.Clone(cm.Annotations)
	delete(got, record.AnnotationKey)
	if !maps.Equal(got, want) || !maps.Equal(cm.Labels, userLabels) || !maps.Equal(cm.Data, userData) {
		e.t.Errorf("the user's content of %s changed: annotations %v labels %v data %v; want %v %v %v",
			name, got, cm.Labels, cm.Data, want, userLabels, userData)
	}
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

// holder decodes the record of the lock name.
func (e *env) holder(name string) (record.Record, error) {
	e.t.Helper()
	return record.Decode(e.getLock(name).Annotations[record.AnnotationKey])
}

// writeAnnotation replaces the election record of the lock name, as a person
// with kubectl would, keeping everything else.
func (e *env) writeAnnotation(name, raw string) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Annotations[record.AnnotationKey] = raw
		_, err = e.cs.CoreV1().ConfigMaps(e.ns).Update(e.ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("write the record of %s: %v", name, err)
	}
}

// Log lines the candidates write.
const (
	goHeldLog     = "lease held by another candidate" // Go, -v 1, at each poll that finds the lease held
	goRenewedLog  = "renewed lease"                   // Go, -v 1, after each successful renewal
	goRenewFailed = "failed to renew lease"           // Go, each failed renewal
	pyHeldLog     = "yet to finish lease_duration"    // Python, INFO, at each poll that finds the lease held
)

// waitFollowing waits until the candidate id of kind has found the lease
// held at a poll after since.
func (e *env) waitFollowing(kind pool.Kind, id string, since time.Time) {
	e.t.Helper()
	text := goHeldLog
	if kind == pool.Python {
		text = pyHeldLog
	}
	e.waitLog(id, since, 30*time.Second, "that the lease is held", func(s string) bool { return strings.Contains(s, text) })
}

// waitLog waits up to within for a line of identity, arrived at or after
// since, that matches, or fails the test naming what.
func (e *env) waitLog(identity string, since time.Time, within time.Duration, what string, match func(string) bool) pool.LogLine {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, within)
	defer cancel()
	l, err := e.logs.WaitFor(ctx, identity, since, match)
	if err != nil {
		e.t.Fatalf("%s did not log %s within %v: %v", identity, what, within, err)
	}
	return l
}

// pyRead runs the Python client's ConfigMapLock.get on the live lock and
// returns the holder it read, as JSON text (a string, or whatever Python
// holds), or the error it raised.
func (e *env) pyRead(lock string) (holder json.RawMessage, err error) {
	e.t.Helper()
	requirePython(e.t)
	const script = `
import json, sys
from kubernetes import config
from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock
config.load_kube_config(config_file=sys.argv[1])
lock = ConfigMapLock(sys.argv[3], sys.argv[2], "probe")
ok, rec = lock.get(sys.argv[3], sys.argv[2])
if not ok or rec is None:
    print(json.dumps({"error": str(rec)}))
else:
    print(json.dumps({"holder": rec.holder_identity}))
`
	out, err := exec.Command(pool.PythonInterpreter, "-c", script, e.cp.KubeconfigPath(), e.ns, lock).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return nil, fmt.Errorf("python: %v: %s", err, stderr)
	}
	var res struct {
		Holder json.RawMessage `json:"holder"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("python output %q: %v", out, err)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("python: %s", res.Error)
	}
	return res.Holder, nil
}

// contextWithin is the test's context bounded to d.
func contextWithin(e *env, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, d)
}
