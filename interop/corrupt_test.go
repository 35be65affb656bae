package interop

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// TestCorruptAnnotation: an annotation that is not JSON, rewritten with new
// garbage every RetryPeriod for longer than a lease, as an unknown live
// writer would. The Go candidate does not crash and does not take over
// while the raw value keeps changing; it takes the lock once the value has
// stayed unchanged for a lease, not before, and writes a valid record that
// we decode and that the Python client's get_lock_object reads with all four
// fields set. The user's other annotation survives. (The Python client
// itself raises on json.loads of such a value.)
func TestCorruptAnnotation(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	const lock, id = "corrupt", "go-candidate"
	const liveFor = leaseDuration + 2*time.Second
	garbage := func(i int) string { return fmt.Sprintf("garbage %d {not json: %x", i, rand.Uint64()) }
	e.createLock(lock, map[string]string{record.AnnotationKey: garbage(0), "example.com/owner": "team-a"}, nil, nil)
	e.start(pool.Go, id, lock)
	// The Python client on a copy, for the record: it raises on json.loads.
	if pyErr == nil {
		e.createLock(lock+"-py", map[string]string{record.AnnotationKey: garbage(0)}, nil, nil)
		e.start(pool.Python, "py-candidate", lock+"-py")
	}
	// It has read the value and counts it as held by an unknown holder.
	e.waitLog(id, 20*time.Second, "that the lock is held", func(line string) bool { return strings.Contains(line, goHeldLog) })

	lastStarted, lastDone := e.rewriteEvery(lock, retryPeriod, liveFor, garbage)
	if led := e.eventsOf(0, pool.StartedLeading, nil); len(led) > 0 {
		t.Fatalf("%s took over at %v while the corrupt value kept changing", id, led[0].Time.Sub(e.t0))
	}
	if exited := e.eventsOf(0, pool.Exited, func(ev pool.Event) bool { return ev.Identity == id }); len(exited) > 0 {
		t.Fatalf("%s exited with code %d facing a corrupt annotation", id, exited[0].Code)
	}
	for _, ev := range e.eventsOf(0, pool.Exited, func(ev pool.Event) bool { return ev.Identity == "py-candidate" }) {
		last := ""
		if lines := e.logs.Lines(ev.Identity, time.Time{}); len(lines) > 0 {
			last = lines[len(lines)-1].Text
		}
		t.Logf("the Python client, facing the same value, exited with code %d: %s", ev.Code, last)
	}

	bound := leaseDuration + 2*retryPeriod + time.Second
	led, _ := e.waitLeader(0, bound+10*time.Second)
	took := led.Time.Sub(lastStarted)
	t.Logf("%s took the lock %v after the corrupt value last changed (lease %v)", id, took.Round(time.Millisecond), leaseDuration)
	if took < leaseDuration-requestSlack {
		t.Errorf("%s took over %v after the last change, before a lease (%v) passed", id, took, leaseDuration)
	}
	if late := led.Time.Sub(lastDone); late > bound {
		t.Errorf("%s took over %v after the last change, later than %v", id, late, bound)
	}

	cm := e.getLock(lock)
	raw := cm.Annotations[record.AnnotationKey]
	r, err := record.Decode(raw)
	if err != nil || r.HolderIdentity != id || r.LeaseDuration != leaseDuration {
		t.Errorf("the record written over the corrupt value %s decodes to %+v, %v", raw, r, err)
	}
	if cm.Annotations["example.com/owner"] != "team-a" {
		t.Errorf("the user's annotation was lost: %v", cm.Annotations)
	}
	objects, _ := pythonLockObjects(t, []string{raw}, "", "")
	if o := objects[0]; o.Error != "" || len(o.missing()) > 0 {
		t.Errorf("Python's get_lock_object of %s: error %q, missing %v", raw, o.Error, o.missing())
	}
}
