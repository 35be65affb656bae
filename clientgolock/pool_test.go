package clientgolock_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
)

// maxRenewGap is the longest a leader of this module or Python goes between
// two writes: a retry period, jittered by up to 1.2 for this module's, and
// a request.
const maxRenewGap = 1200*time.Millisecond + 300*time.Millisecond

// (b) Two client-go LeaderElectors on the adaptor and two of this module's
// electors on configmaplock share one ConfigMap. The leader is cancelled
// again and again: never two leaders at once, and a leader soon after each
// cancellation. client-go leaders release, so the next leader comes at the
// next poll; this module's do not, so the next comes after a lease, and no
// sooner. This module's electors wake at the moment a lease ends while
// client-go polls, so they win nearly every race for an expired lease; a
// candidate of the other kind than the cancelled leader joins once the next
// leader is in, so that leadership keeps crossing between the kinds.
func TestMixedPool(t *testing.T) {
	t.Parallel()
	cs := newClient(t)
	ns := controlplane.NewNamespace(t.Context(), t, cs)
	lead := newLeadership()
	t0 := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("terms (seconds since the test started):\n%s", pool.Timeline(lead.all(), t0))
		}
	})

	kindOf := map[string]string{}
	running := map[string]*candidate{}
	started := map[string]int{}
	start := func(kind string) {
		id := fmt.Sprintf("%s-%d", kind, started[kind])
		started[kind]++
		kindOf[id] = kind
		if kind == "client-go" {
			running[id] = startClientGo(t, ns, id, lead)
		} else {
			running[id] = startElectionLoop(t, ns, id, false, lead)
		}
	}
	other := map[string]string{"client-go": "loop", "loop": "client-go"}
	for range 2 {
		start("client-go")
		start("loop")
	}

	const rounds = 6
	handoffs := map[string]int{} // such as "client-go -> loop": count
	since, previous := t0, ""
	for round := 0; ; round++ {
		term, err := lead.waitStart(t.Context(), since, takeoverBound)
		if err != nil {
			t.Fatalf("round %d: within %v of cancelling %q: %v", round, takeoverBound, previous, err)
		}
		took := term.Start.Sub(since)
		t.Logf("round %d: %s leads, %v after %q was cancelled", round, term.Identity, took.Round(time.Millisecond), previous)
		checkPythonDialect(t, annotationOf(t, cs, ns), term.Identity)
		if previous != "" {
			handoffs[kindOf[previous]+" -> "+kindOf[term.Identity]]++
			if kindOf[previous] == "loop" && took < leaseDuration-maxRenewGap {
				t.Errorf("%s took over %v after %s, which does not release, was cancelled: before its lease could pass", term.Identity, took, previous)
			}
			// The successor joins only now, so that its first read
			// does not race the other followers.
			start(other[kindOf[previous]])
		}
		if round == rounds {
			break
		}
		time.Sleep(2 * retryPeriod) // a few renewals, seen by every follower
		since, previous = time.Now(), term.Identity
		running[previous].stop(t)
		delete(running, previous)
	}
	t.Logf("handoffs: %v", handoffs)
	for _, c := range running {
		c.stop(t)
	}
	if err := pool.CheckNoOverlap(lead.all(), 0); err != nil {
		t.Error(err)
	}
}

// handoff runs a client-go candidate beside other, a candidate that does not
// release, and checks that whoever leads first, the other never leads while
// it runs. A client-go leader is cancelled (it releases), so other takes
// over, and a new client-go candidate joins; then other is stopped, and
// client-go takes over a lease later, no sooner.
type handoff struct {
	t      *testing.T
	cs     kubernetes.Interface
	ns     string
	lead   *leadership        // client-go's terms
	others func() []pool.Term // other's terms
}

func (h *handoff) terms() []pool.Term { return append(h.others(), h.lead.all()...) }

func (h *handoff) leader() string {
	for _, term := range h.terms() {
		if term.End.IsZero() {
			return term.Identity
		}
	}
	return ""
}

func (h *handoff) waitLeader(within time.Duration) string {
	h.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if id := h.leader(); id != "" {
			return id
		}
	}
	h.t.Fatalf("no leader within %v", within)
	return ""
}

// watch fails the test unless want leads alone for d.
func (h *handoff) watch(want string, d time.Duration) {
	h.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if err := pool.CheckNoOverlap(h.terms(), 0); err != nil {
			h.t.Fatal(err)
		}
		if id := h.leader(); id != want {
			h.t.Fatalf("leader %q, want %q to keep leading", id, want)
		}
	}
}

// run starts client-go and then other, with startOther, which returns the
// function that stops it.
func (h *handoff) run(other string, startOther func() (stop func())) {
	t := h.t
	t.Helper()
	cg := startClientGo(t, h.ns, "client-go-0", h.lead)
	stopOther := startOther()
	first := h.waitLeader(takeoverBound)
	t.Logf("%s leads first", first)
	h.watch(first, 2*leaseDuration)

	if first != other {
		cancelled := time.Now()
		cg.stop(t)
		if id := h.waitLeader(takeoverBound); id != other {
			t.Fatalf("after client-go released, %q leads, want %s", id, other)
		}
		t.Logf("%s took over %v after client-go was cancelled", other, time.Since(cancelled).Round(time.Millisecond))
		cg = startClientGo(t, h.ns, "client-go-1", h.lead)
		h.watch(other, 2*leaseDuration)
	}

	checkPythonDialect(t, annotationOf(t, h.cs, h.ns), other)
	stopped := time.Now()
	stopOther()
	term, err := h.lead.waitStart(t.Context(), stopped, takeoverBound)
	if err != nil {
		t.Fatalf("after %s stopped, within %v: %v", other, takeoverBound, err)
	}
	took := term.Start.Sub(stopped)
	t.Logf("%s took over %v after %s stopped", term.Identity, took.Round(time.Millisecond), other)
	if took < leaseDuration-maxRenewGap {
		t.Errorf("%s took over %v after %s stopped, before its lease could pass", term.Identity, took, other)
	}
	checkPythonDialect(t, annotationOf(t, h.cs, h.ns), term.Identity)
	cg.stop(t)
	if err := pool.CheckNoOverlap(h.terms(), 0); err != nil {
		t.Error(err)
	}
}

// One of this module's electors, which does not release, and client-go.
func TestHandoffWithElectionLoop(t *testing.T) {
	t.Parallel()
	cs := newClient(t)
	ns := controlplane.NewNamespace(t.Context(), t, cs)
	loopTerms := newLeadership()
	h := &handoff{t: t, cs: cs, ns: ns, lead: newLeadership(), others: loopTerms.all}
	t0 := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("terms (seconds since the test started):\n%s", pool.Timeline(h.terms(), t0))
		}
	})
	h.run("loop", func() func() {
		loop := startElectionLoop(t, ns, "loop", false, loopTerms)
		return func() { loop.stop(t) }
	})
}

// syncBuffer collects the Python candidate's log for a failure report.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// (c) A candidate of the real Python client and client-go: the handoff
// above, with the Python candidate killed at the end. Python's terms come
// from its own events and the pool's SIGKILL.
func TestHandoffWithPythonClient(t *testing.T) {
	t.Parallel()
	cs := newClient(t)
	if err := pool.PythonAvailable(); err != nil {
		controlplane.SkipOrFail(t, "the real Python client is missing: %v", err)
	}
	ns := controlplane.NewNamespace(t.Context(), t, cs)
	p, err := pool.New(t.Context(), t.TempDir()) // builds examples/candidate, unused here
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	p.Stderr = logs
	h := &handoff{t: t, cs: cs, ns: ns, lead: newLeadership(), others: func() []pool.Term { return pool.Terms(p.Events()) }}
	t0 := time.Now()
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("terms (seconds since the test started):\n%s", pool.Timeline(h.terms(), t0))
			t.Logf("Python candidate's log:\n%s", logs.String())
		}
	})
	h.run("python", func() func() {
		py, err := p.Start(pool.Spec{
			Kind: pool.Python, Identity: "python", Namespace: ns, Name: lockName, Kubeconfig: cp.KubeconfigPath(),
			LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		})
		if err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := p.Kill(py); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n := strings.Count(logs.String(), "Traceback"); n > 0 {
		t.Errorf("the Python candidate raised %d exceptions", n)
	}
}
