package faults

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
)

// The control plane of TestControlPlaneOutage, which stops its API server
// and etcd; no other test uses it. TestMain stops it.
var (
	outageOnce  sync.Once
	outageCP    *controlplane.ControlPlane
	outageCPErr error
)

// TestControlPlaneOutage takes the API server away, and then etcd, for
// longer than RenewDeadline, each time under two elections: one led by an
// in-process Elector (with an in-process and a Go process follower), one led
// by a Go process (with a Go and a Python follower). Each leader stops
// leading within RenewDeadline of its last renewal — the in-process one's
// context is cancelled and OnStoppedLeading runs, the process prints
// stopped_leading — which is before any follower could take over (a lease
// after that renewal). With etcd down, requests hang instead of failing: the
// loop's per-attempt timeout still ends leadership at the deadline. When the
// server is back, each election has exactly one leader within the failover
// bound, and it stays alone. Judged strictly from every candidate's events.
//
// Both outages run in order on a control plane of their own, so that the
// rest of the package runs beside them.
func TestControlPlaneOutage(t *testing.T) {
	t.Parallel()
	controlplane.Require(t, cpErr) // the binaries exist
	outageOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		outageCP, outageCPErr = controlplane.Start(ctx, controlplane.Options{})
	})
	controlplane.Require(t, outageCPErr)

	for _, tc := range []struct {
		name        string
		stop, start func(context.Context) error
	}{
		{"apiserver", outageCP.StopAPIServer, outageCP.StartAPIServer},
		{"etcd", outageCP.StopEtcd, outageCP.StartEtcd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testOutage(t, tc.stop, tc.start)
		})
	}
}

func testOutage(t *testing.T, stop, start func(context.Context) error) {
	// Election X: led by an in-process Elector.
	ex := setupOn(t, outageCP, false)
	ex.userLock("lock", "")
	a := ex.startInproc("inproc-a", "lock")
	a.wait(t, 30*time.Second, "leadership", func() bool { return len(a.started) > 0 })
	b := ex.startInproc("inproc-b", "lock")
	ex.start(pool.Go, "go-x", "lock")

	// Election Y: led by a Go process.
	ey := setupOn(t, outageCP, true)
	ey.userLock("lock", "")
	ey.start(pool.Go, "go-leader", "lock")
	ey.waitLeader(0, 30*time.Second)
	ey.start(pool.Go, "go-y", "lock")
	ey.start(pool.Python, "py-y", "lock")

	since := time.Now()
	ex.waitFollowing(pool.Go, "go-x", since)
	ey.waitFollowing(pool.Go, "go-y", since)
	ey.waitFollowing(pool.Python, "py-y", since)
	b.wait(t, 10*time.Second, "sight of the leader", func() bool { return b.e.GetLeader() == "inproc-a" })

	// Stop right after a renewal of the process leader, so that the
	// measured bound is tight.
	ey.waitLog("go-leader", time.Now(), 5*time.Second, "a renewal", func(s string) bool { return strings.Contains(s, goRenewedLog) })
	xFrom, yFrom := len(ex.pool.Events()), len(ey.pool.Events())
	down := time.Now()
	if err := stop(ex.ctx); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	t.Logf("stopped in %v", time.Since(down).Round(time.Millisecond))

	// Election X: the in-process leader stops within RenewDeadline of its
	// last renewal, before a follower could take over.
	a.wait(t, renewDeadline+slack+time.Second, "stop", func() bool { return len(a.ctxDone) > 0 && len(a.stopped) > 0 })
	last := a.e.Status().LastRenewal
	a.mu.Lock()
	ctxDone, stopped := a.ctxDone[0], a.stopped[0]
	a.mu.Unlock()
	t.Logf("in-process leader: last renewal %v before the outage; context cancelled %v and OnStoppedLeading %v after it (RenewDeadline %v)",
		down.Sub(last).Round(time.Millisecond), ctxDone.Sub(last).Round(time.Millisecond), stopped.Sub(last).Round(time.Millisecond), renewDeadline)
	checkStoppedInTime(t, "inproc-a", last, ctxDone)
	checkStoppedInTime(t, "inproc-a (OnStoppedLeading)", last, stopped)
	// Run returns ErrLeadershipLost; the supervisor loop runs it again.
	a.wait(t, 5*time.Second, "Run to return", func() bool { return len(a.runs) > 0 })
	if err := a.lastRunErr(); !errors.Is(err, electionloop.ErrLeadershipLost) {
		t.Errorf("inproc-a: Run = %v, want ErrLeadershipLost", err)
	}

	// Election Y: the process leader prints stopped_leading as promptly.
	ev, _ := ey.waitStopped("go-leader", yFrom, renewDeadline+slack+time.Second)
	lastLine := lastLog(ey, "go-leader", goRenewedLog)
	if ev.Event != pool.StoppedLeading {
		t.Errorf("go-leader: %s (code %d), want stopped_leading first", ev.Event, ev.Code)
	}
	t.Logf("process leader: last renewal logged %v before the outage; stopped_leading %v after it",
		down.Sub(lastLine).Round(time.Millisecond), ev.Time.Sub(lastLine).Round(time.Millisecond))
	checkStoppedInTime(t, "go-leader", lastLine, ev.Time)

	// Stay down a little longer than the lease, then come back.
	if d := time.Until(down.Add(leaseDuration + retryPeriod)); d > 0 {
		ex.sleep(d)
	}
	if led := ex.eventsOf(xFrom, pool.StartedLeading, nil); len(led) > 0 || b.leading() {
		t.Errorf("election X: a candidate led while the server was down: %v %s", led, b)
	}
	if led := ey.eventsOf(yFrom, pool.StartedLeading, nil); len(led) > 0 {
		t.Errorf("election Y: a candidate led while the server was down: %v", led)
	}
	restart := time.Now()
	if err := start(ex.ctx); err != nil {
		t.Fatalf("starting again: %v", err)
	}
	back := time.Now()
	t.Logf("outage lasted %v (restart took %v)", back.Sub(down).Round(time.Millisecond), back.Sub(restart).Round(time.Millisecond))

	// Exactly one leader in each election, within the failover bound of
	// the server's return, and alone for two leases.
	bound := failoverBound + slack
	deadline := back.Add(bound)
	for time.Now().Before(deadline) && !(len(leadersNow(ex, a, b)) == 1 && len(leadersNow(ey)) == 1) {
		ex.sleep(100 * time.Millisecond)
	}
	xLeaders, yLeaders := leadersNow(ex, a, b), leadersNow(ey)
	t.Logf("after the return: election X led by %v after %v, election Y by %v", xLeaders, time.Since(back).Round(time.Millisecond), yLeaders)
	if len(xLeaders) != 1 || len(yLeaders) != 1 {
		t.Fatalf("within %v of the server's return: leaders %v and %v, want one each", bound, xLeaders, yLeaders)
	}
	ex.sleep(2 * leaseDuration)
	if now := leadersNow(ex, a, b); len(now) != 1 || now[0] != xLeaders[0] {
		t.Errorf("election X: leaders %v two leases later, want %v alone", now, xLeaders)
	}
	if now := leadersNow(ey); len(now) != 1 || now[0] != yLeaders[0] {
		t.Errorf("election Y: leaders %v two leases later, want %v alone", now, yLeaders)
	}

	ex.checkNoOverlap(0, append(a.terms(), b.terms()...)...)
	ey.checkNoOverlap(0)
	for _, e := range []*env{ex, ey} {
		e.checkUserContent("lock")
		if r, err := e.holder("lock"); err != nil {
			t.Errorf("the record after the outage: %+v, %v", r, err)
		}
	}
	// What the Python follower did, for the README.
	for _, ev := range ey.eventsOf(yFrom, pool.Exited, func(ev pool.Event) bool { return ev.Identity == "py-y" }) {
		lines := ey.logs.Lines("py-y", since)
		lastLine := ""
		if len(lines) > 0 {
			lastLine = lines[len(lines)-1].Text
		}
		t.Logf("the Python follower exited with code %d during the outage: %s", ev.Code, lastLine)
	}
}

// checkStoppedInTime fails t unless a leader whose last successful renewal
// was at last stopped within RenewDeadline of it (plus slack for a loaded
// machine) and, either way, before a follower could take over: a lease
// after that renewal.
func checkStoppedInTime(t *testing.T, who string, last, stopped time.Time) {
	t.Helper()
	after := stopped.Sub(last)
	if after > renewDeadline+time.Second {
		t.Errorf("%s stopped leading %v after its last renewal, want within RenewDeadline %v (+1s)", who, after, renewDeadline)
	}
	if after >= leaseDuration-300*time.Millisecond {
		t.Errorf("%s stopped leading %v after its last renewal: a follower could have taken over at %v", who, after, leaseDuration)
	}
}

// lastLog returns the time a Go candidate wrote its last log line
// containing text, read from the line itself.
func lastLog(e *env, identity, text string) time.Time {
	e.t.Helper()
	lines := e.logs.Lines(identity, time.Time{})
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i].Text, text) {
			return goLogTime(e.t, lines[i].Text)
		}
	}
	e.t.Fatalf("%s never logged %q", identity, text)
	return time.Time{}
}

// goLogTime reads the time stamp that starts a Go candidate's log line.
func goLogTime(t *testing.T, line string) time.Time {
	t.Helper()
	const layout = "2006/01/02 15:04:05.000000"
	if len(line) < len(layout) {
		t.Fatalf("log line %q has no time stamp", line)
	}
	at, err := time.ParseInLocation(layout, line[:len(layout)], time.Local)
	if err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	return at
}

// leadersNow names the candidates of e's pool, and the in-process ones,
// that lead now by their own events.
func leadersNow(e *env, in ...*inproc) []string {
	var out []string
	for _, tm := range pool.Terms(e.pool.Events()) {
		if tm.End.IsZero() {
			out = append(out, tm.Identity)
		}
	}
	for _, c := range in {
		if c.leading() {
			out = append(out, c.id)
		}
	}
	return out
}
