package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
)

// TestSlowAcquisition: a lone Go candidate whose first attempt is delayed
// on the wire past RenewDeadline (its proxy holds the traffic 4 s), after
// which the attempt succeeds. Nobody else is there; the lock is its own.
//
// It must not lead on that write, whose lease may be over for the others,
// nor start and stop leading in the same instant (as it once did, exiting 1
// and leaving the lock held by nobody for a lease): it renews first, then
// leads, and keeps leading.
func TestSlowAcquisition(t *testing.T) {
	t.Parallel()
	controlplane.Require(t, cpErr)
	e := setup(t, false)
	e.userLock("lock", "")
	p := e.proxy("go")
	p.SetMode(netproxy.Hold)
	e.start(pool.Go, "go", "lock", viaProxy())
	if _, err := p.WaitChunk(time.Time{}, 10*time.Second, func(ch netproxy.Chunk) bool { return ch.Up }); err != nil {
		t.Fatal(err)
	}
	e.sleep(renewDeadline + time.Second)
	p.SetMode(netproxy.Pass)

	led, _ := e.waitLeader(0, failoverBound+slack)
	e.sleep(2 * leaseDuration)
	for _, ev := range e.pool.Events() {
		if ev.Event == pool.StoppedLeading || ev.Event == pool.Exited {
			t.Errorf("%s %v after it started leading (code %d)", ev.Event, ev.Time.Sub(led.Time), ev.Code)
		}
	}
	for _, l := range e.logs.Lines("go", time.Time{}) {
		if strings.Contains(l.Text, "stopped leading") {
			t.Logf("go: %s", l.Text)
		}
	}
	if now := leadersNow(e); len(now) != 1 {
		t.Errorf("leaders %v two leases after the delayed acquisition, want the candidate", now)
	}
	e.checkUserContent("lock")
}
