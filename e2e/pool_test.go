package e2e

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

var (
	// jitteredRetry is the longest wait between a follower's polls.
	jitteredRetry = time.Duration(config.JitterFactor * float64(retryPeriod))
	// failoverBound is how soon after a leader's crash another candidate
	// must lead: the lease, one poll for a follower to see the leader's
	// last write, one more after the lease has passed, and the requests.
	// Polls are up to JitterFactor × RetryPeriod apart, so the bound is
	// that much above LeaseDuration + 2 × RetryPeriod (6 s): runs that
	// kill the leader right after its renewal measure up to 5.6 s.
	failoverBound = leaseDuration + 2*jitteredRetry + requestSlack
)

const (
	// handoverBound is how soon after SIGTERM of a leader with
	// --release-on-cancel a follower must lead: its next poll, at most
	// JitterFactor × RetryPeriod away, plus the release and the process's
	// shutdown. Well under a lease.
	handoverBound = 2200 * time.Millisecond // 1.2 × RetryPeriod + 1 s
	// requestSlack covers requests and scheduling between a moment the
	// test measures and the one a candidate acted on.
	requestSlack = 250 * time.Millisecond
)

// TestFailoverAndHandover runs three Go candidate processes on one lock. The
// leader is killed with SIGKILL: another leads within LeaseDuration + two
// polls (failoverBound), and not before the dead leader's lease can have
// passed.
// That leader then gets SIGTERM with --release-on-cancel: it stops, releases
// and exits 0, and the last candidate leads well within a lease. Never do
// two lead at once, by every candidate's own account.
func TestFailoverAndHandover(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const lock = "failover"
	ids := []string{"go-1", "go-2", "go-3"}
	procs := map[string]*pool.Candidate{}
	for _, id := range ids {
		procs[id] = e.start(id, lock, true)
	}

	first, _ := e.waitLeader(0, 20*time.Second)
	leader := first.Identity
	// Both followers have read the leader's record and judge its lease.
	for _, id := range ids {
		if id != leader {
			e.waitLog(id, e.t0, `"holder"="`+leader+`"`, 10*time.Second)
		}
	}

	// Crash: SIGKILL.
	if err := e.pool.Kill(procs[leader]); err != nil {
		t.Fatal(err)
	}
	killed, at := e.lastSignal(leader)
	next, at := e.waitLeader(at, failoverBound+10*time.Second)
	failover := next.Time.Sub(killed.Time)
	t.Logf("failover: %s killed, %s led %v later (bound %v)", leader, next.Identity, failover.Round(time.Millisecond), failoverBound)
	if failover > failoverBound {
		t.Errorf("failover took %v, more than LeaseDuration + 2 × JitterFactor × RetryPeriod + %v = %v", failover, requestSlack, failoverBound)
	}
	// The dead leader renewed at most a RetryPeriod before the kill; its
	// lease ran from there.
	if earliest := leaseDuration - retryPeriod - requestSlack; failover < earliest {
		t.Errorf("failover took only %v: the killed leader's lease cannot have passed before %v", failover, earliest)
	}
	if code := e.exitCode(procs[leader], 5*time.Second); code != 128+9 {
		t.Errorf("%s exited %d after SIGKILL, want 137", leader, code)
	}
	if next.Identity == leader {
		t.Fatalf("the killed %s led again", leader)
	}

	// Graceful stop: SIGTERM with --release-on-cancel. Sent after a
	// renewal that the new leader saw succeed, between two renewals: a
	// SIGTERM that cancels a renewal on the wire loses the release
	// (electionloop's TestAPIServerReleaseAfterCancelledRenewal).
	leader = next.Identity
	e.waitLog(leader, next.Time, "renewed lease", 5*time.Second)
	if err := e.pool.Terminate(procs[leader]); err != nil {
		t.Fatal(err)
	}
	terminated, at := e.lastSignal(leader)
	last, lastAt := e.waitLeader(at, leaseDuration+10*time.Second)
	handover := last.Time.Sub(terminated.Time)
	t.Logf("handover: %s got SIGTERM, %s led %v later (bound %v)", leader, last.Identity, handover.Round(time.Millisecond), handoverBound)
	if handover > handoverBound {
		t.Errorf("handover took %v, want < %v (the lease is %v)", handover, handoverBound, leaseDuration)
	}
	// Strict order: the old leader said it stopped before the next began.
	stopped, stoppedAt := e.waitEvent(at, 5*time.Second, leader+"'s stopped_leading", func(ev pool.Event) bool {
		return ev.Event == pool.StoppedLeading && ev.Identity == leader
	})
	if stoppedAt > lastAt || !stopped.Time.Before(last.Time) {
		t.Errorf("%s stopped leading at %s, not before %s started at %s",
			leader, stopped.Time.Format("15:04:05.000"), last.Identity, last.Time.Format("15:04:05.000"))
	}
	if code := e.exitCode(procs[leader], 5*time.Second); code != 0 {
		t.Errorf("%s exited %d after SIGTERM, want 0", leader, code)
	}
	if want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == first.Identity || id == leader }); last.Identity != want[0] {
		t.Errorf("%s led after the handover, want %s, the only one left", last.Identity, want[0])
	}

	// Every term, judged from every candidate's own events.
	terms := pool.Terms(e.pool.Events())
	if err := pool.CheckNoOverlap(terms, 0); err != nil {
		t.Error(err)
	}
	var order []string
	for _, term := range terms {
		order = append(order, term.Identity)
	}
	if want := []string{first.Identity, next.Identity, last.Identity}; !slices.Equal(order, want) {
		t.Errorf("terms in order: %v, want %v", order, want)
	}
	t.Logf("leadership terms (seconds since the test started):\n%s", pool.Timeline(terms, e.t0))

	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, lock, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw := cm.Annotations[record.AnnotationKey]
	rec, err := record.Decode(raw)
	if err != nil || rec.HolderIdentity != last.Identity || rec.LeaseDuration != leaseDuration {
		t.Errorf("the record is %s (%v); want held by %s with a %v lease", raw, err, last.Identity, leaseDuration)
	}
}
