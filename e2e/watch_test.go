package e2e

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
)

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			lastErr = err
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	t.Fatalf("/healthz on %s never answered: %v", addr, lastErr)
	return 0, ""
}

// TestWatchingCandidates runs candidates with --watch and --healthz-addr on
// the real API server: /healthz answers 200 on the leader and the follower,
// and when the leader releases, the watching follower leads at once. With a
// retry period of 3 s a polling follower would need up to 3.6 s; the
// watching one is bounded here by 1 s (the benchmarks measure it: a few ms).
func TestWatchingCandidates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const lock = "watching"
	addrs := map[string]string{"w-1": freeAddr(t), "w-2": freeAddr(t)}
	procs := map[string]*pool.Candidate{}
	for _, id := range []string{"w-1", "w-2"} {
		c, err := e.pool.Start(pool.Spec{
			Kind: pool.Go, Identity: id, Namespace: e.ns, Name: lock,
			Kubeconfig:    cp.KubeconfigPath(),
			LeaseDuration: 8 * time.Second, RenewDeadline: 5 * time.Second, RetryPeriod: 3 * time.Second,
			ReleaseOnCancel: true,
			Args:            []string{"--watch", "--healthz-addr", addrs[id], "-v", "1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		procs[id] = c
	}
	first, i := e.waitLeader(0, 20*time.Second)
	leader, follower := first.Identity, "w-1"
	if leader == "w-1" {
		follower = "w-2"
	}
	e.waitLog(follower, e.t0, `"holder"="`+leader+`"`, 10*time.Second)
	for _, id := range []string{leader, follower} {
		if code, body := healthz(t, addrs[id]); code != http.StatusOK || body != "ok" {
			t.Errorf("/healthz of %s = %d %q, want 200 ok", id, code, body)
		}
	}

	if err := e.pool.Terminate(procs[leader]); err != nil {
		t.Fatal(err)
	}
	sent, _ := e.lastSignal(leader)
	next, _ := e.waitLeader(i+1, 5*time.Second)
	if next.Identity != follower {
		t.Fatalf("%s led after the release, want %s", next.Identity, follower)
	}
	if took := next.Time.Sub(sent.Time); took > time.Second {
		t.Errorf("the watching follower led %v after the leader's SIGTERM, want within 1 s", took)
	} else {
		t.Logf("handover to a watching follower: %v after SIGTERM", took)
	}
	if code := e.exitCode(procs[leader], 10*time.Second); code != 0 {
		t.Errorf("released leader exited %d, want 0", code)
	}
	if err := pool.CheckNoOverlap(pool.Terms(e.pool.Events()), 0); err != nil {
		t.Error(err)
	}
	if code, body := healthz(t, addrs[follower]); code != http.StatusOK {
		t.Errorf("/healthz of the new leader = %d %q", code, body)
	}
}
