package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// TestLockDeletedWhileHeld deletes the lock's ConfigMap right after the Go
// leader renewed it.
//
//   - go-followers: the leader recreates it at its next renewal and goes on
//     leading; its Go followers, which saw its record, neither create it
//     nor lead, before or after (strict).
//   - python-followers: the Python client creates a missing lock at once, so
//     a Python follower that polls before the Go leader's next renewal
//     creates it and starts leading; the Go leader's next renewal then
//     fails (409: the object it wrote is gone) and it reads a record held
//     by another and stops at once. Two candidates lead together for at
//     most that RetryPeriod (+ request time): asserted as the bound the
//     design allows. If the Go leader recreates first, strictly one leader.
//
// The user's labels, data and other annotations go with the deleted
// ConfigMap: the recreated lock holds the record alone.
func TestLockDeletedWhileHeld(t *testing.T) {
	t.Parallel()
	for _, followerKind := range []pool.Kind{pool.Go, pool.Python} {
		t.Run(string(followerKind)+"-followers", func(t *testing.T) {
			t.Parallel()
			e := setup(t, followerKind == pool.Python)
			e.userLock("lock", "")
			const leader = "go-leader"
			e.start(pool.Go, leader, "lock")
			e.waitLeader(0, 30*time.Second)
			since := time.Now()
			followers := []string{string(followerKind) + "-1", string(followerKind) + "-2"}
			for _, id := range followers {
				e.start(followerKind, id, "lock")
			}
			for _, id := range followers {
				e.waitFollowing(followerKind, id, since)
			}

			cms := e.cs.CoreV1().ConfigMaps(e.ns)
			old := e.getLock("lock")
			w, err := cms.Watch(e.ctx, metav1.ListOptions{
				FieldSelector:   fields.OneTermEqualSelector("metadata.name", "lock").String(),
				ResourceVersion: old.ResourceVersion,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			e.waitLog(leader, time.Now(), 5*time.Second, "a renewal", func(s string) bool { return strings.Contains(s, goRenewedLog) })
			from := len(e.pool.Events())
			if err := cms.Delete(e.ctx, "lock", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			deleted := time.Now()

			var creator string
			var recreated time.Time
			timeout := time.After(failoverBound + slack)
			for creator == "" {
				select {
				case ev := <-w.ResultChan():
					if ev.Type == watch.Added {
						cm := ev.Object.(*corev1.ConfigMap)
						r, _ := record.Decode(cm.Annotations[record.AnnotationKey])
						creator, recreated = r.HolderIdentity, time.Now()
						if len(cm.Labels) > 0 || len(cm.Data) > 0 || len(cm.Annotations) != 1 {
							t.Errorf("the recreated lock holds more than the record: %v %v %v", cm.Annotations, cm.Labels, cm.Data)
						}
					}
				case <-timeout:
					t.Fatalf("the lock was not recreated within %v of its deletion", failoverBound+slack)
				}
			}
			t.Logf("%s recreated the lock %v after its deletion", creator, recreated.Sub(deleted).Round(time.Millisecond))
			e.sleep(2 * leaseDuration)

			if creator == leader {
				if evs := e.eventsOf(from, pool.StartedLeading, nil); len(evs) > 0 {
					t.Errorf("a follower led after the deletion: %v", evs)
				}
				if evs := e.eventsOf(from, pool.StoppedLeading, nil); len(evs) > 0 {
					t.Errorf("the leader stopped after the deletion: %v", evs)
				}
				e.checkNoOverlap(0)
			} else {
				if followerKind == pool.Go {
					t.Fatalf("the Go follower %s recreated a lock held by %s", creator, leader)
				}
				started, _ := e.waitEvent(from, time.Second, creator+" leading", func(ev pool.Event) bool {
					return ev.Event == pool.StartedLeading && ev.Identity == creator
				})
				stopped, _ := e.waitStopped(leader, from, time.Second)
				overlap := stopped.Time.Sub(started.Time)
				t.Logf("the Python follower %s created the lock at once and led; the Go leader stopped %v later (at its next renewal)", creator, overlap.Round(time.Millisecond))
				if overlap > retryPeriod+500*time.Millisecond {
					t.Errorf("the Go leader stopped %v after %s created the lock, want within its next renewal (RetryPeriod %v + 500ms)", overlap, creator, retryPeriod)
				}
				// Apart from that one overlap, strictly one leader.
				var others []pool.Term
				for _, tm := range pool.Terms(e.pool.Events()) {
					if tm.Identity != leader {
						others = append(others, tm)
					}
				}
				if err := pool.CheckNoOverlap(others, 0); err != nil {
					t.Error(err)
				}
			}
			now := leadersNow(e)
			if len(now) != 1 {
				t.Fatalf("leaders now: %v, want one", now)
			}
			if r, err := e.holder("lock"); err != nil || r.HolderIdentity != now[0] {
				t.Errorf("the record is %+v, %v; want held by %s", r, err, now[0])
			}
		})
	}
}

// TestAnnotationOverwritten overwrites the record by hand while a Go
// leader holds it, keeping everything else in the ConfigMap.
//
//   - other-holder: a valid record naming "intruder". The leader's next
//     renewal conflicts, it reads a lock held by another, stops leading at
//     once and exits 1. Nobody renews the intruder's record, so a follower
//     takes over once it has stayed unchanged for a lease, not before; one
//     leader at a time (strict).
//   - garbage: text that is not JSON. The leader's next renewal conflicts, it
//     reads a record nobody can read, and, its own lease being live, writes
//     its record over it at once and goes on leading; the followers never
//     lead. (A Python follower that reads the garbage before that raises
//     in json.loads and exits; that is reported, not asserted.)
//
// No Go candidate crashes; the user's content survives.
func TestAnnotationOverwritten(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"other-holder", `{"holderIdentity": "intruder", "leaseDurationSeconds": "4", "acquireTime": "2026-01-01 00:00:00", "renewTime": "2026-01-01 00:00:00"}`},
		{"garbage", `{"holderIdentity": "intruder", oops`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			python := tc.name == "garbage"
			e := setup(t, python)
			e.userLock("lock", "")
			const leader = "go-leader"
			e.start(pool.Go, leader, "lock")
			e.waitLeader(0, 30*time.Second)
			since := time.Now()
			e.start(pool.Go, "go-1", "lock")
			e.start(pool.Go, "go-2", "lock")
			e.waitFollowing(pool.Go, "go-1", since)
			e.waitFollowing(pool.Go, "go-2", since)
			if python {
				e.start(pool.Python, "py-1", "lock")
				e.waitFollowing(pool.Python, "py-1", since)
			}
			e.waitLog(leader, time.Now(), 5*time.Second, "a renewal", func(s string) bool { return strings.Contains(s, goRenewedLog) })
			from := len(e.pool.Events())
			e.writeAnnotation("lock", tc.raw)
			written := time.Now()

			switch tc.name {
			case "other-holder":
				stopped, _ := e.waitStopped(leader, from, retryPeriod+slack)
				next, _ := e.waitLeader(from, failoverBound+slack)
				t.Logf("the leader stopped %v after the overwrite (%s); %s led %v after it (lease %v)",
					stopped.Time.Sub(written).Round(time.Millisecond), stopped.Event, next.Identity, next.Time.Sub(written).Round(time.Millisecond), leaseDuration)
				if stopped.Event != pool.StoppedLeading {
					t.Errorf("%s: %s, want stopped_leading", leader, stopped.Event)
				}
				if d := next.Time.Sub(written); d < leaseDuration {
					t.Errorf("%s took over %v after the intruder's record was written, before a lease (%v)", next.Identity, d, leaseDuration)
				}
				e.sleep(leaseDuration)
				for _, ev := range e.eventsOf(from, pool.Exited, nil) {
					if ev.Identity != leader || ev.Code != 1 {
						t.Errorf("%s exited with code %d", ev.Identity, ev.Code)
					}
				}
			case "garbage":
				deadline := written.Add(retryPeriod + slack)
				var r record.Record
				var err error
				for time.Now().Before(deadline) {
					if r, err = e.holder("lock"); err == nil && r.HolderIdentity == leader {
						break
					}
					e.sleep(50 * time.Millisecond)
				}
				t.Logf("the leader wrote its record over the garbage %v after it was written", time.Since(written).Round(10*time.Millisecond))
				if err != nil || r.HolderIdentity != leader {
					t.Errorf("%v after the garbage was written the record is %+v, %v; want %s's", retryPeriod+slack, r, err, leader)
				}
				e.sleep(2 * leaseDuration)
				if evs := e.pool.Events()[from:]; len(e.eventsOf(from, pool.StartedLeading, nil))+len(e.eventsOf(from, pool.StoppedLeading, nil)) > 0 {
					t.Errorf("leadership changed after the garbage: %v", evs)
				}
				for _, ev := range e.eventsOf(from, pool.Exited, nil) {
					if ev.Identity == "py-1" {
						lines := e.logs.Lines("py-1", written)
						last := ""
						if len(lines) > 0 {
							last = lines[len(lines)-1].Text
						}
						t.Logf("the Python follower read the garbage and exited with code %d: %s", ev.Code, last)
						continue
					}
					t.Errorf("%s exited with code %d", ev.Identity, ev.Code)
				}
			}
			e.checkNoOverlap(0)
			e.checkUserContent("lock")
		})
	}
}

// TestGoPythonWriteRace races a Go and a Python candidate for a lock, many
// times: half the rounds on an absent lock (both read NotFound and create),
// half on a released one (both read the released record and update). Each
// round both candidates go through proxies that hold their traffic until
// both have tried to connect, then let them through at the same instant.
// Exactly one wins each round: one started_leading, alone, and the lock
// names it; when both wrote, the loser's write was refused (AlreadyExists
// or 409 Conflict, in its log), which is counted.
func TestGoPythonWriteRace(t *testing.T) {
	t.Parallel()
	const rounds = 10
	var mu sync.Mutex
	wins := map[pool.Kind]int{}
	refused := 0
	t.Run("rounds", func(t *testing.T) {
		for i := range rounds {
			released := i%2 == 1
			name := fmt.Sprintf("absent-%d", i)
			if released {
				name = fmt.Sprintf("released-%d", i)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := setup(t, true)
				if released {
					e.userLock("lock", `{"holderIdentity": "", "leaseDurationSeconds": "4", "acquireTime": "2026-01-01 00:00:00", "renewTime": "2026-01-01 00:00:00"}`)
				}
				ids := []string{"go", "py"}
				e.holdUp(ids)
				// Python first, as it is slow to start: the Go attempt must
				// not be held longer than RenewDeadline (see
				// TestSlowAcquisition).
				e.start(pool.Python, "py", "lock", viaProxy())
				e.waitHeld([]string{"py"}, time.Time{}, 0)
				e.start(pool.Go, "go", "lock", viaProxy())
				e.waitHeld([]string{"go"}, time.Time{}, 0)
				e.pass(ids)
				won, _ := e.waitLeader(0, 20*time.Second)
				e.sleep(2 * retryPeriod)
				if led := e.eventsOf(0, pool.StartedLeading, nil); len(led) != 1 {
					t.Errorf("%d started leading, want 1: %v", len(led), led)
				}
				if r, err := e.holder("lock"); err != nil || r.HolderIdentity != won.Identity {
					t.Errorf("the record is %+v, %v; want held by %s", r, err, won.Identity)
				}
				e.checkNoOverlap(0)
				loser := "py"
				if won.Identity == "py" {
					loser = "go"
				}
				wasRefused := false
				for _, l := range e.logs.Lines(loser, time.Time{}) {
					if strings.Contains(l.Text, "lost a race") || strings.Contains(l.Text, "Failed to create lock") || strings.Contains(l.Text, "Failed to update lock") {
						wasRefused = true
					}
				}
				if released {
					e.checkUserContent("lock")
				}
				mu.Lock()
				wins[map[string]pool.Kind{"go": pool.Go, "py": pool.Python}[won.Identity]]++
				if wasRefused {
					refused++
				}
				mu.Unlock()
			})
		}
	})
	t.Logf("%d rounds: Go won %d, Python won %d; in %d the loser's write was refused by the API server (a true race)",
		rounds, wins[pool.Go], wins[pool.Python], refused)
}
