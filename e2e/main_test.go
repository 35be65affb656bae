// Package e2e runs whole elections of Go candidate processes
// (examples/candidate, through internal/pool) against a real kube-apiserver
// and etcd (internal/controlplane), and checks the candidate command's
// contract: its flags, exit codes and JSON-lines output.
//
// One control plane and one build of examples/candidate serve the package,
// each made by the first test that needs it; every test works in its own
// namespace with its own pool. Who led when is judged from the candidates'
// own events (pool.Terms, pool.CheckNoOverlap): safety and order strictly,
// liveness within the bounds the protocol promises.
package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
)

// The timings of every candidate: the shortest the Python rules allow.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second
)

var (
	cpOnce sync.Once
	cp     *controlplane.ControlPlane
	cpErr  error

	buildOnce sync.Once
	built     *pool.Pool // examples/candidate, built once into buildDir
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping the control plane: %v\n", err)
			code = 1
		}
	}
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// candidateBinary builds examples/candidate once and returns the pool that
// runs it, or fails t.
func candidateBinary(t *testing.T) *pool.Pool {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "e2e-"); buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		built, buildErr = pool.New(ctx, buildDir)
	})
	if buildErr != nil {
		t.Fatalf("building examples/candidate: %v", buildErr)
	}
	return built
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

// setup prepares a test that runs candidates against the control plane.
func setup(t *testing.T) *env {
	t.Helper()
	cpOnce.Do(func() {
		cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
	})
	controlplane.Require(t, cpErr)
	p := candidateBinary(t).Fresh()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, cs: cs, pool: p, logs: pool.NewLogs(), t0: time.Now()}
	p.Stderr = e.logs
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

// start runs a Go candidate on the lock with the package's timings, logging
// at -v 1 (which names every renewal and the holder at every poll).
func (e *env) start(identity, lock string, releaseOnCancel bool) *pool.Candidate {
	e.t.Helper()
	c, err := e.pool.Start(pool.Spec{
		Kind: pool.Go, Identity: identity, Namespace: e.ns, Name: lock,
		Kubeconfig:    cp.KubeconfigPath(),
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReleaseOnCancel: releaseOnCancel,
		Args:            []string{"-v", "1"},
	})
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

func (e *env) waitLeader(from int, within time.Duration) (pool.Event, int) {
	e.t.Helper()
	return e.waitEvent(from, within, "started_leading", func(ev pool.Event) bool { return ev.Event == pool.StartedLeading })
}

// lastSignal returns the pool's record of the last signal sent to identity.
func (e *env) lastSignal(identity string) (pool.Event, int) {
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

// exitCode waits for c to exit and returns its code.
func (e *env) exitCode(c *pool.Candidate, within time.Duration) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, within)
	defer cancel()
	code, err := c.Wait(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// waitLog waits up to within for a line of identity that arrived at or after
// since and contains text.
func (e *env) waitLog(identity string, since time.Time, text string, within time.Duration) pool.LogLine {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, within)
	defer cancel()
	l, err := e.logs.WaitFor(ctx, identity, since, pool.Contains(text))
	if err != nil {
		e.t.Fatalf("%s did not log %q within %v: %v", identity, text, within, err)
	}
	return l
}
