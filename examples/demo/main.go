// Command demo shows a mixed pool of candidates electing one leader through
// one ConfigMap lock: Go candidates (examples/candidate) and, when the real
// Python client is installed, Python ones (examples/python/candidate.py over
// kubernetes.leaderelection).
//
//	go run ./examples/demo [--kubeconfig PATH] [--namespace default] [--name kubepy-demo]
//	    [--lease-duration 4s] [--renew-deadline 3s] [--retry-period 1s] [--verbose]
//
// Without --kubeconfig or $KUBECONFIG it runs a real etcd and kube-apiserver
// on 127.0.0.1 (internal/controlplane), building them first with
// hack/kube/build.sh when .cache/kube/bin lacks them (minutes, once, with
// progress on stderr). With either, it runs against that cluster, in
// --namespace, on the lock --name, and touches nothing else there: at the
// end it deletes that ConfigMap only if its own candidates created it.
//
// It waits for a leader and kills it (SIGKILL, a crash) to measure the
// failover: kill to the next leader, about a lease. Then it makes the leader
// step down: a Go leader gets SIGTERM and releases the lock
// (--release-on-cancel), and the handover, SIGTERM to the next leader, takes
// milliseconds for a watching follower (--watch, the default) and up to a
// retry period for a polling one; a Python leader cannot release, so it is killed too
// until a Go candidate leads. At the end it prints who led when, the
// measurements and whether two candidates ever led at once, judged from every
// candidate's own events. It exits 1 if no leader came in time or two led
// at once, 2 for invalid flags.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

const (
	goCandidates     = 3
	pythonCandidates = 2
	// budget bounds everything after the builds: starting the control
	// plane, the election, the summary and the clean-up.
	budget = 100 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	kubeconfig, namespace, name               string
	kubeconfigEnv                             string // $KUBECONFIG
	leaseDuration, renewDeadline, retryPeriod time.Duration
	verbose, watch                            bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "run against this cluster (default: $KUBECONFIG; neither: a local kube-apiserver)")
	fs.StringVar(&o.namespace, "namespace", "default", "namespace of the lock")
	fs.StringVar(&o.name, "name", "kubepy-demo", "name of the lock's ConfigMap")
	fs.DurationVar(&o.leaseDuration, "lease-duration", 4*time.Second, "lease duration of every candidate")
	fs.DurationVar(&o.renewDeadline, "renew-deadline", 3*time.Second, "renew deadline of every candidate")
	fs.DurationVar(&o.retryPeriod, "retry-period", time.Second, "retry period of every candidate")
	fs.BoolVar(&o.watch, "watch", true, "Go candidates watch the lock (a release is taken at once) instead of polling it")
	fs.BoolVar(&o.verbose, "verbose", false, "copy the candidates' and the control plane's logs to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	// The candidates' own rules, checked before anything is built.
	cfg := config.Config{
		Lock:          demoLock(o),
		LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod,
		Callbacks: config.Callbacks{OnStartedLeading: func(context.Context) {}},
	}
	if err := cfg.Validate(); err != nil {
		return o, err
	}
	// A bounded demo needs bounded leases.
	if o.leaseDuration > 20*time.Second {
		return o, fmt.Errorf("--lease-duration %v: at most 20s, so that the demo ends in time", o.leaseDuration)
	}
	return o, nil
}

// demoLock stands for the lock in configuration checks.
type demoLock options

func (demoLock) Get(context.Context) (record.Record, string, error) { return record.Record{}, "", nil }
func (demoLock) Create(context.Context, record.Record) error        { return nil }
func (demoLock) Update(context.Context, record.Record) error        { return nil }
func (demoLock) Identity() string                                   { return "demo" }
func (l demoLock) Describe() string                                 { return l.namespace + "/" + l.name }

// demo is one run: its output, its pool and what it measured.
type demo struct {
	opts     options
	start    time.Time
	out      io.Writer
	stderr   io.Writer
	mu       sync.Mutex // serializes output
	pool     *pool.Pool
	logs     *pool.Logs
	procs    map[string]*pool.Candidate
	t0       time.Time // candidates started
	ownUID   types.UID // of the lock, when the demo's candidates created it
	failures []string

	printedN  int           // events the printer has handled; under mu
	printedCh chan struct{} // closed and replaced when printedN grows
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.failures = append(d.failures, msg)
	d.say("FAILED: %s", msg)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "demo:", err)
		}
		return 2
	}
	o.kubeconfigEnv = os.Getenv("KUBECONFIG")
	d := &demo{opts: o, start: time.Now(), out: stdout, stderr: stderr, logs: pool.NewLogs(),
		procs: map[string]*pool.Candidate{}, printedCh: make(chan struct{})}
	if o.verbose {
		d.logs.CopyTo = stderr
	}
	if err := d.run(ctx); err != nil {
		d.say("demo failed: %v", err)
		return 1
	}
	if len(d.failures) > 0 {
		return 1
	}
	return 0
}

func (d *demo) run(ctx context.Context) error {
	root, err := pool.RepoRoot()
	if err != nil {
		return fmt.Errorf("run the demo inside the repository: %w", err)
	}
	local := d.opts.kubeconfig == "" && d.opts.kubeconfigEnv == ""

	// Builds: unbounded but never silent.
	if local {
		if err := d.buildControlPlane(ctx, root); err != nil {
			return err
		}
	}
	d.say("building examples/candidate")
	dir, err := os.MkdirTemp("", "kubepy-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if d.pool, err = pool.New(ctx, dir); err != nil {
		return err
	}
	d.pool.Stderr = d.logs

	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	// The cluster.
	var restConfig *rest.Config
	kubeconfig := d.opts.kubeconfig
	if local {
		d.say("starting etcd and kube-apiserver on 127.0.0.1")
		started := time.Now()
		var cpOpts controlplane.Options
		if d.opts.verbose {
			cpOpts.Log = d.stderr
		}
		cp, err := controlplane.Start(ctx, cpOpts)
		if err != nil {
			return fmt.Errorf("starting the control plane: %w", err)
		}
		defer func() {
			if err := cp.Stop(); err != nil {
				d.say("stopping the control plane: %v", err)
			}
		}()
		d.say("API server ready at %s after %v", cp.Host(), time.Since(started).Round(100*time.Millisecond))
		restConfig, kubeconfig = cp.RESTConfig(), cp.KubeconfigPath()
	} else {
		// --kubeconfig is passed on to the candidates; without it they
		// read $KUBECONFIG (which may be a list) themselves, as we do.
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = kubeconfig
		source := "--kubeconfig " + kubeconfig
		if kubeconfig == "" {
			source = "$KUBECONFIG " + d.opts.kubeconfigEnv
		}
		if restConfig, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig(); err != nil {
			return fmt.Errorf("loading %s: %w", source, err)
		}
		d.say("using the cluster at %s (from %s) instead of a local API server", restConfig.Host, source)
	}
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	existing, pythonWouldWipe, err := d.checkLock(ctx, cs)
	if err != nil {
		return err
	}

	// The pool.
	suffix := ""
	if !local {
		// Identities unique to this run: another demo on the same lock
		// must not share them.
		suffix = "-" + randomHex(2)
	}
	python := pythonCandidates
	if err := pool.PythonAvailable(); err != nil {
		python = 0
		d.say("Python client not available, so the pool is Go only: %v", err)
	} else if pythonWouldWipe {
		python = 0
		d.say("the lock has other annotations and no leader record: the Python client would replace them all with its own (the bug this library fixes), so the pool is Go only")
	}
	var goIDs, pyIDs []string
	for i := 1; i <= goCandidates; i++ {
		goIDs = append(goIDs, fmt.Sprintf("go-%d%s", i, suffix))
	}
	for i := 1; i <= python; i++ {
		pyIDs = append(pyIDs, fmt.Sprintf("py-%d%s", i, suffix))
	}
	d.say("lock %s/%s; every candidate with lease %v, renew deadline %v, retry period %v",
		d.opts.namespace, d.opts.name, d.opts.leaseDuration, d.opts.renewDeadline, d.opts.retryPeriod)
	if python > 0 {
		d.say("starting %d Go candidates (%s, with %s) and %d Python candidates (%s, the real kubernetes.leaderelection)",
			len(goIDs), strings.Join(goIDs, ", "), d.goFlags(), len(pyIDs), strings.Join(pyIDs, ", "))
	} else {
		d.say("starting %d Go candidates (%s, with %s)", len(goIDs), strings.Join(goIDs, ", "), d.goFlags())
	}
	defer d.pool.Close()
	d.t0 = time.Now()
	// Interleaved, so that either kind may lead first.
	for i := range max(len(goIDs), len(pyIDs)) {
		if i < len(goIDs) {
			if err := d.startCandidate(pool.Go, goIDs[i], kubeconfig); err != nil {
				return err
			}
		}
		if i < len(pyIDs) {
			if err := d.startCandidate(pool.Python, pyIDs[i], kubeconfig); err != nil {
				return err
			}
		}
	}
	printed := d.printEvents(ctx)

	failover, handover, electionErr := d.election(ctx, cs, existing)
	if electionErr != nil {
		d.fail("%v", electionErr)
	}
	d.stopAll()
	printed()
	if !local && d.ownUID != "" {
		d.deleteOwnLock(cs)
	}
	d.summary(failover, handover)
	return nil
}

// buildControlPlane runs hack/kube/build.sh when the binaries are missing.
func (d *demo) buildControlPlane(ctx context.Context, root string) error {
	binDir := os.Getenv("KUBE_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(root, ".cache", "kube", "bin")
	}
	missing := false
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	d.say("building kube-apiserver and etcd into %s with hack/kube/build.sh: once, about 7 minutes on 2 cores; progress on stderr", binDir)
	started := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "kube", "build.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBE_BIN_DIR="+binDir)
	cmd.Stdout, cmd.Stderr = d.stderr, d.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/kube/build.sh: %w", err)
	}
	d.say("built kube-apiserver and etcd in %v", time.Since(started).Round(time.Second))
	return nil
}

// checkLock reports whether the lock exists already, and whether a Python
// candidate would wipe its other annotations (it replaces them all when the
// leader annotation is absent or empty). It fails early when the lock cannot
// be read or its namespace does not exist.
func (d *demo) checkLock(ctx context.Context, cs kubernetes.Interface) (existing, pythonWouldWipe bool, err error) {
	ns, name := d.opts.namespace, d.opts.name
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		holder := "no holder"
		if rec, err := record.Decode(cm.Annotations[record.AnnotationKey]); err == nil {
			holder = "holder " + rec.HolderIdentity
		}
		d.say("the lock %s/%s exists already (%s): the demo uses it and leaves it in place", ns, name, holder)
		others := len(cm.Annotations)
		if _, ok := cm.Annotations[record.AnnotationKey]; ok {
			others--
		}
		return true, cm.Annotations[record.AnnotationKey] == "" && others > 0, nil
	case apierrors.IsNotFound(err):
		if _, nsErr := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(nsErr) {
			return false, false, fmt.Errorf("namespace %q does not exist (choose one with --namespace)", ns)
		}
		return false, false, nil
	default:
		return false, false, fmt.Errorf("cannot read the lock %s/%s: %w", ns, name, err)
	}
}

// goFlags names the Go candidates' flags that shape what the demo shows.
func (d *demo) goFlags() string {
	if d.opts.watch {
		return "--release-on-cancel --watch"
	}
	return "--release-on-cancel"
}

func (d *demo) startCandidate(kind pool.Kind, id, kubeconfig string) error {
	spec := pool.Spec{
		Kind: kind, Identity: id, Namespace: d.opts.namespace, Name: d.opts.name, Kubeconfig: kubeconfig,
		LeaseDuration: d.opts.leaseDuration, RenewDeadline: d.opts.renewDeadline, RetryPeriod: d.opts.retryPeriod,
	}
	if kind == pool.Go {
		spec.ReleaseOnCancel = true
		spec.Args = []string{"-v", "1"} // logs each renewal
		if d.opts.watch {
			spec.Args = append(spec.Args, "--watch")
		}
	}
	c, err := d.pool.Start(spec)
	if err != nil {
		return err
	}
	d.procs[id] = c
	return nil
}

// printEvents prints leadership changes and exits as they come, until the
// returned function is called.
func (d *demo) printEvents(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		print := func(ev pool.Event) {
			switch ev.Event {
			case pool.StartedLeading:
				d.say("  %s started leading", ev.Identity)
			case pool.StoppedLeading:
				d.say("  %s stopped leading", ev.Identity)
			case pool.Exited:
				d.say("  %s exited with status %d", ev.Identity, ev.Code)
			}
		}
		for i := 0; ; i++ {
			ev, at, err := d.pool.WaitFor(ctx, i, func(pool.Event) bool { return true })
			if err != nil {
				// Stopped: print what came in the meantime.
				for _, ev := range d.pool.Events()[i:] {
					print(ev)
				}
				return
			}
			i = at
			print(ev)
			d.mu.Lock()
			d.printedN = i + 1
			close(d.printedCh)
			d.printedCh = make(chan struct{})
			d.mu.Unlock()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// election runs the scenario and returns the failover and handover times.
func (d *demo) election(ctx context.Context, cs kubernetes.Interface, existing bool) (failover, handover time.Duration, err error) {
	o := d.opts
	jitteredRetry := time.Duration(config.JitterFactor * float64(o.retryPeriod))
	// Generous liveness bounds; what the protocol promises is printed.
	firstBound := o.leaseDuration + 10*time.Second
	failoverBound := o.leaseDuration + 3*jitteredRetry + 10*time.Second

	d.say("waiting for a leader")
	first, _, err := d.waitLeader(ctx, 0, firstBound)
	if err != nil {
		return 0, 0, err
	}
	leader := first.Identity
	if !existing {
		d.rememberOwnLock(ctx, cs, leader)
	}
	// Let every follower see the leader, so that the failover runs from
	// a lease they have all observed.
	d.waitFollowers(ctx, leader, first.Time, 2*jitteredRetry+3*time.Second)

	d.say("killing the leader %s with SIGKILL, a crash: the others wait until its last renewal is a lease (%v) old", leader, o.leaseDuration)
	next, err := d.kill(ctx, leader, failoverBound)
	if err != nil {
		return 0, 0, err
	}
	failover = next.Time.Sub(d.signalTime(leader))
	d.say("failover: %s leads %v after the kill (lease %v, retry period %v)", next.Identity, failover.Round(time.Millisecond), o.leaseDuration, o.retryPeriod)
	leader = next.Identity

	for d.procs[leader].Spec.Kind == pool.Python {
		d.say("%s is a Python candidate, and the Python client cannot release its lock: killing it too, until a Go candidate leads", leader)
		if next, err = d.kill(ctx, leader, failoverBound); err != nil {
			return failover, 0, err
		}
		d.say("%s leads %v after the kill", next.Identity, next.Time.Sub(d.signalTime(leader)).Round(time.Millisecond))
		leader = next.Identity
	}

	// SIGTERM between two renewals: a SIGTERM that cancels a renewal on
	// the wire can lose the release (see electionloop's
	// TestAPIServerReleaseAfterCancelledRenewal).
	d.waitLog(ctx, leader, next.Time, "renewed lease", 2*jitteredRetry+time.Second)
	d.say("stopping the leader %s with SIGTERM: it releases the lock on its way out (--release-on-cancel)", leader)
	from := len(d.pool.Events())
	if err := d.pool.Terminate(d.procs[leader]); err != nil {
		return failover, 0, err
	}
	terminated := d.signalTime(leader)
	last, _, err := d.waitLeader(ctx, from, failoverBound)
	if err != nil {
		return failover, 0, err
	}
	handover = last.Time.Sub(terminated)
	d.say("handover: %s leads %v after the SIGTERM (a retry period is %v; without the release it would wait the %v lease)",
		last.Identity, handover.Round(time.Millisecond), o.retryPeriod, o.leaseDuration)
	wctx, cancel := context.WithTimeout(ctx, o.renewDeadline+2*time.Second)
	defer cancel()
	if code, err := d.procs[leader].Wait(wctx); err != nil || code != 0 {
		d.fail("%s did not exit 0 after SIGTERM: status %d, %v", leader, code, err)
	}
	d.waitFollowers(ctx, last.Identity, last.Time, 2*jitteredRetry+time.Second)
	if d.procs[last.Identity].Spec.Kind == pool.Go {
		// The same care for the SIGTERM that ends the demo.
		d.waitLog(ctx, last.Identity, last.Time, "renewed lease", 2*jitteredRetry+time.Second)
	}
	return failover, handover, nil
}

// caughtUp waits, briefly, until the printer has printed the first n
// events, so that the demo's lines come after the events they are about.
func (d *demo) caughtUp(n int) {
	timeout := time.After(time.Second)
	for {
		d.mu.Lock()
		done, ch := d.printedN >= n, d.printedCh
		d.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			return
		}
	}
}

// waitLeader waits for a started_leading event at index from or later.
func (d *demo) waitLeader(ctx context.Context, from int, within time.Duration) (pool.Event, int, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	ev, at, err := d.pool.WaitForLeader(ctx, from)
	switch {
	case err == nil:
		d.caughtUp(at + 1)
		return ev, at, nil
	case parent.Err() != nil:
		return ev, at, fmt.Errorf("interrupted or out of time: %w", parent.Err())
	default:
		return ev, at, fmt.Errorf("no leader within %v", within)
	}
}

// kill sends SIGKILL to id and waits for the next leader.
func (d *demo) kill(ctx context.Context, id string, within time.Duration) (pool.Event, error) {
	from := len(d.pool.Events())
	if err := d.pool.Kill(d.procs[id]); err != nil {
		return pool.Event{}, err
	}
	ev, _, err := d.waitLeader(ctx, from, within)
	return ev, err
}

// signalTime returns when the pool last signalled id.
func (d *demo) signalTime(id string) time.Time {
	evs := d.pool.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == pool.Signalled && evs[i].Identity == id {
			return evs[i].Time
		}
	}
	return time.Time{}
}

// waitFollowers waits, at most within, until every other running candidate
// has logged, since since, that leader holds the lease, and says how many
// did.
func (d *demo) waitFollowers(ctx context.Context, leader string, since time.Time, within time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var saw, all []string
	for id, c := range d.procs {
		if _, running := d.pool.Running(id); !running || id == leader {
			continue
		}
		all = append(all, id)
		// What each logs at a poll that finds the lease held: the Go
		// candidate at -v 1, the Python client at INFO.
		text := `"holder"="` + leader + `"`
		if c.Spec.Kind == pool.Python {
			text = "lease held by " + leader + " "
		}
		if _, err := d.logs.WaitFor(ctx, id, since, pool.Contains(text)); err == nil {
			saw = append(saw, id)
		}
	}
	switch {
	case len(all) == 0:
	case len(saw) == len(all):
		d.say("all %d followers see %s holding the lease", len(all), leader)
	default:
		d.say("%d of %d followers see %s holding the lease within %v", len(saw), len(all), leader, within)
	}
}

// waitLog waits, at most within, for a log line of id received at or after
// since that contains text.
func (d *demo) waitLog(ctx context.Context, id string, since time.Time, text string, within time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	_, _ = d.logs.WaitFor(ctx, id, since, pool.Contains(text))
}

// stopAll ends every candidate still running: SIGTERM, so that a Go leader
// releases the lock, then SIGKILL for any left after the renew deadline.
func (d *demo) stopAll() {
	var running []*pool.Candidate
	for id, c := range d.procs {
		if _, ok := d.pool.Running(id); ok {
			running = append(running, c)
		}
	}
	if len(running) == 0 {
		return
	}
	d.say("stopping the candidates left (%d) with SIGTERM", len(running))
	for _, c := range running {
		_ = d.pool.Terminate(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.renewDeadline+2*time.Second)
	defer cancel()
	for _, c := range running {
		_, _ = c.Wait(ctx)
	}
	d.pool.Close()
}

func (d *demo) summary(failover, handover time.Duration) {
	terms := pool.Terms(d.pool.Events())
	overlap := pool.CheckNoOverlap(terms, 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.out
	fmt.Fprintf(w, "\nWho led when (seconds since the candidates started; each candidate's own report):\n")
	fmt.Fprint(w, indent(pool.Timeline(terms, d.t0)))
	fmt.Fprintln(w)
	if failover > 0 {
		fmt.Fprintf(w, "failover (SIGKILL of the leader → next leader):    %v\n", failover.Round(time.Millisecond))
	}
	if handover > 0 {
		fmt.Fprintf(w, "handover (SIGTERM of a Go leader → next leader):   %v\n", handover.Round(time.Millisecond))
	}
	if overlap != nil {
		d.failures = append(d.failures, overlap.Error())
		fmt.Fprintf(w, "FAILED: %v\n", overlap)
	} else {
		fmt.Fprintf(w, "never two leaders at once: %d terms, no overlap (pool.CheckNoOverlap)\n", len(terms))
	}
	if len(d.failures) > 0 {
		fmt.Fprintf(w, "result: FAILED (%d problems)\n", len(d.failures))
	} else {
		fmt.Fprintf(w, "result: ok\n")
	}
}

// rememberOwnLock notes the UID of the lock, which did not exist when the
// demo started, if its holder is the demo's first leader: then the demo's
// candidates created it.
func (d *demo) rememberOwnLock(ctx context.Context, cs kubernetes.Interface, leader string) {
	cm, err := cs.CoreV1().ConfigMaps(d.opts.namespace).Get(ctx, d.opts.name, metav1.GetOptions{})
	if err != nil {
		return
	}
	if rec, err := record.Decode(cm.Annotations[record.AnnotationKey]); err == nil && rec.HolderIdentity == leader {
		d.ownUID = cm.UID
	}
}

// deleteOwnLock deletes the lock the demo's candidates created, and only
// that object: the UID precondition keeps it from deleting a ConfigMap
// someone else created in the meantime.
func (d *demo) deleteOwnLock(cs kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, name := d.opts.namespace, d.opts.name
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			d.say("not deleting the lock %s/%s: %v", ns, name, err)
		}
		return
	}
	if cm.UID != d.ownUID {
		d.say("not deleting the lock %s/%s: it is not the one the demo's candidates created", ns, name)
		return
	}
	err = cs.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &d.ownUID}})
	if err != nil {
		d.say("not deleting the lock %s/%s: %v", ns, name, err)
		return
	}
	d.say("deleted the lock %s/%s, which the demo's candidates created", ns, name)
}

func indent(s string) string {
	if s == "" {
		return "  (nobody led)\n"
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
