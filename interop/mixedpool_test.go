package interop

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
)

// TestMixedPoolSerialKills: three Go and three Python candidates on one
// lock; the leader is killed with SIGKILL five times, each time after
// leading for a random while, and a candidate of the same kind replaces it.
// After every kill another candidate leads within LeaseDuration + 2 ×
// RetryPeriod, and at no moment did two candidates lead, judged from every
// candidate's own events.
func TestMixedPoolSerialKills(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	const lock, kills = "mixed", 5
	kinds := map[string]pool.Kind{}
	started := map[pool.Kind]int{}
	startOne := func(k pool.Kind) {
		started[k]++
		id := fmt.Sprintf("%s-%d", k, started[k])
		kinds[id] = k
		e.start(k, id, lock)
	}
	for range 3 {
		startOne(pool.Go)
		startOne(pool.Python)
	}

	cur, _ := e.waitLeader(0, 30*time.Second)
	var report []string
	for k := 1; k <= kills; k++ {
		e.sleep(retryPeriod/2 + rand.N(3*retryPeriod/2))
		c, ok := e.pool.Running(cur.Identity)
		if !ok {
			t.Fatalf("kill %d: leader %s is not running", k, cur.Identity)
		}
		if err := e.pool.Kill(c); err != nil {
			t.Fatal(err)
		}
		killed, kAt := e.signalled(cur.Identity)
		lastRenew := e.lastRenewal(lock, cur.Identity)
		next, _ := e.waitLeader(kAt, failoverBound+10*time.Second)
		took := next.Time.Sub(killed.Time)
		report = append(report, fmt.Sprintf("kill %d: %s → %s in %v (%v after its last renewal)",
			k, cur.Identity, next.Identity, took.Round(time.Millisecond), next.Time.Sub(lastRenew).Round(time.Millisecond)))
		if took > failoverBound {
			t.Errorf("kill %d: %s led %v after %s was killed, more than %v", k, next.Identity, took, cur.Identity, failoverBound)
		}
		if after := next.Time.Sub(lastRenew); after < leaseDuration-requestSlack {
			t.Errorf("kill %d: %s led %v after %s's last renewal, before its lease (%v) passed", k, next.Identity, after, cur.Identity, leaseDuration)
		}
		if next.Identity == cur.Identity {
			t.Fatalf("kill %d: the killed %s led again", k, cur.Identity)
		}
		startOne(kinds[cur.Identity])
		cur = next
	}
	t.Logf("serial kills in a pool of 3 Go and 3 Python candidates (bound %v):\n%s", failoverBound, strings.Join(report, "\n"))

	terms := e.checkNoOverlap()
	if len(terms) != kills+1 {
		t.Errorf("%d leadership terms, want %d: one per kill and the last", len(terms), kills+1)
	}
	// Only the killed leaders exited: no follower of either language
	// crashed or gave up.
	for _, ev := range e.eventsOf(0, pool.Exited, nil) {
		if ev.Code != 128+9 {
			t.Errorf("%s exited with code %d", ev.Identity, ev.Code)
		}
	}
	t.Logf("terms:\n%s", pool.Timeline(terms, e.t0))
}
