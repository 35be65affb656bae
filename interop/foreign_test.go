package interop

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// foreignFixture is a record another client writes on a ConfigMap lock, in
// testdata/foreign (see its README.md for the sources).
type foreignFixture struct {
	file   string
	writer string
	// lacks is the field Python's rule finds missing, null or falsy, which
	// makes the record "no record": taken at once. Empty for a complete
	// record, which is respected until its lease passes unchanged.
	lacks string
	// What Decode reads.
	holder      string
	lease       time.Duration
	acquire     time.Time
	renew       time.Time
	transitions int
	// timeLayout writes renewTime as the writer does, for live renewals.
	timeLayout string
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

var foreignFixtures = []foreignFixture{
	{file: "client-go-v0.27.json", writer: "client-go ≤ v0.27",
		holder: "kube-controller-manager-5f7d9c", lease: 15 * time.Second,
		acquire: utc("2023-04-11T08:15:30Z"), renew: utc("2023-04-11T09:02:12Z"), transitions: 3,
		timeLayout: time.RFC3339},
	{file: "client-go-v0.27-released.json", writer: "client-go ≤ v0.27, released", lacks: "holderIdentity",
		lease: time.Second, acquire: utc("2023-04-11T09:02:14Z"), renew: utc("2023-04-11T09:02:14Z"), transitions: 3},
	{file: "istio.json", writer: "Istio's fork of client-go",
		holder: "istiod-5b8f9c7d4-x2kqp", lease: 30 * time.Second,
		acquire: utc("2024-02-19T10:11:12Z"), renew: utc("2024-02-19T10:41:02Z"),
		timeLayout: time.RFC3339},
	{file: "java.json", writer: "Kubernetes Java client",
		holder: "java-operator-0", lease: 15 * time.Second,
		acquire: utc("2024-03-05T14:20:01.123Z"), renew: utc("2024-03-05T14:25:47.809Z"), transitions: 2,
		timeLayout: "2006-01-02T15:04:05.000Z07:00"},
	{file: "csharp.json", writer: "Kubernetes C# client",
		holder: "dotnet-worker-1", lease: 15 * time.Second,
		acquire: utc("2024-06-01T12:00:00.123456Z"), renew: utc("2024-06-01T12:03:20.654321Z"), transitions: 1,
		timeLayout: "2006-01-02T15:04:05.000000Z07:00"},
	{file: "fabric8.json", writer: "fabric8 kubernetes-client", lacks: "leaseDurationSeconds",
		holder: "fabric8-pod-1", acquire: utc("2024-07-08T09:10:11Z"), renew: utc("2024-07-08T09:12:13.456Z")},
	{file: "fabric8-epoch.json", writer: "fabric8 kubernetes-client, as its tests read it", lacks: "leaseDurationSeconds",
		holder: "1337"}, // numeric times are not times to us: zero
}

func (f foreignFixture) raw(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "foreign", f.file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestForeignRecordsDecode: every fixture decodes without error except
// where Python's rule finds a field missing, and then with ErrNoRecord
// naming exactly that field; the Python client's own get_lock_object, run
// live, agrees on which records are complete.
func TestForeignRecordsDecode(t *testing.T) {
	t.Parallel()
	var raws []string
	for _, f := range foreignFixtures {
		raws = append(raws, f.raw(t))
	}
	for i, f := range foreignFixtures {
		t.Run(f.file, func(t *testing.T) {
			r, err := record.Decode(raws[i])
			switch {
			case f.lacks == "" && err != nil:
				t.Fatalf("Decode(%s): %v", raws[i], err)
			case f.lacks != "" && (!errors.Is(err, record.ErrNoRecord) || !strings.Contains(err.Error(), f.lacks+" is ")):
				t.Fatalf("Decode(%s) = %v, want ErrNoRecord for %s", raws[i], err, f.lacks)
			case errors.Is(err, record.ErrMalformed):
				t.Fatalf("Decode(%s): %v", raws[i], err)
			}
			if r.HolderIdentity != f.holder || r.LeaseDuration != f.lease || r.LeaderTransitions != f.transitions ||
				!r.AcquireTime.Equal(f.acquire) || !r.RenewTime.Equal(f.renew) {
				t.Errorf("Decode(%s) = %+v\nwant holder %q lease %v acquire %v renew %v transitions %d",
					raws[i], r, f.holder, f.lease, f.acquire, f.renew, f.transitions)
			}
			verdict := "complete: respected until it stays unchanged for the longer of our lease and its " + f.lease.String()
			if f.lacks != "" {
				verdict = "no record (" + f.lacks + "): taken at once, as Python takes it"
			}
			t.Logf("%s: %s", f.writer, verdict)
		})
	}

	// What the Python client makes of the same bytes.
	t.Run("python-agrees", func(t *testing.T) {
		objects, _ := pythonLockObjects(t, raws, "", "")
		for i, f := range foreignFixtures {
			o := objects[i]
			if o.Error != "" {
				t.Errorf("%s: Python's get_lock_object failed: %s", f.file, o.Error)
				continue
			}
			want := []string(nil)
			if f.lacks != "" {
				want = []string{f.lacks}
			}
			if got := o.missing(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: Python finds %v missing, the fixture table says %v", f.file, got, want)
			}
		}
	})
}

var (
	leaseField = regexp.MustCompile(`("leaseDurationSeconds":)\d+`)
	renewField = regexp.MustCompile(`("renewTime":")[^"]*(")`)
)

// live returns the fixture with its lease set to lease and renewTime to
// renew, in the writer's own format.
func (f foreignFixture) live(t *testing.T, lease time.Duration, renew time.Time) string {
	t.Helper()
	raw := f.raw(t)
	out := leaseField.ReplaceAllString(raw, "${1}"+strconv.Itoa(int(lease/time.Second)))
	out = renewField.ReplaceAllString(out, "${1}"+renew.UTC().Format(f.timeLayout)+"${2}")
	if out == raw || strings.Count(out, renew.UTC().Format(f.timeLayout)) != 1 {
		t.Fatalf("could not renew %s", raw)
	}
	return out
}

// TestForeignRecordsOnTheLock puts each fixture on a live lock in front of a
// Go candidate. A complete record is a live foreign holder while its raw
// value keeps changing: it is rewritten every RetryPeriod for longer than
// its lease, with a renewTime an hour in the past (a skewed clock), and the
// Go candidate does not take over; once the writes stop it takes over when
// the record has stayed unchanged for the record's lease (8 s, longer than
// its own 4 s), not before. A record Python's rule finds incomplete is taken
// at the first attempt, by a Go candidate and, on a copy, by a Python one.
func TestForeignRecordsOnTheLock(t *testing.T) {
	t.Parallel()
	for _, f := range foreignFixtures {
		t.Run(f.file, func(t *testing.T) {
			t.Parallel()
			e := setup(t, f.lacks != "")
			const lock, id = "foreign", "go-candidate"
			if f.lacks != "" {
				e.createLock(lock, map[string]string{record.AnnotationKey: f.raw(t)}, nil, nil)
				e.createLock(lock+"-py", map[string]string{record.AnnotationKey: f.raw(t)}, nil, nil)
				e.start(pool.Go, id, lock)
				e.start(pool.Python, "py-candidate", lock+"-py")
				for _, c := range []struct {
					kind pool.Kind
					id   string
				}{{pool.Go, id}, {pool.Python, "py-candidate"}} {
					led, _ := e.waitEvent(0, 20*time.Second, c.id+" leading", func(ev pool.Event) bool {
						return ev.Event == pool.StartedLeading && ev.Identity == c.id
					})
					e.checkTookAtOnce(c.kind, c.id, led)
				}
				if r, err := record.Decode(e.annotation(lock)); err != nil || r.HolderIdentity != id {
					t.Errorf("after the takeover the record is %+v, %v", r, err)
				}
				return
			}

			const recordLease = 8 * time.Second
			const liveFor = recordLease + 2*time.Second
			skewed := time.Now().Add(-time.Hour).Truncate(time.Second)
			e.createLock(lock, map[string]string{record.AnnotationKey: f.live(t, recordLease, skewed)}, nil, nil)
			e.start(pool.Go, id, lock)
			// It has decoded the foreign holder.
			e.waitEvent(0, 20*time.Second, id+" naming "+f.holder+" the leader", func(ev pool.Event) bool {
				return ev.Event == pool.NewLeader && ev.Identity == id && ev.Leader == f.holder
			})
			lastStarted, lastDone := e.rewriteEvery(lock, retryPeriod, liveFor, func(i int) string {
				return f.live(t, recordLease, skewed.Add(time.Duration(i)*time.Second))
			})
			if led := e.eventsOf(0, pool.StartedLeading, nil); len(led) > 0 {
				t.Fatalf("%s took over at %v while %s kept renewing", id, led[0].Time.Sub(e.t0), f.holder)
			}
			if exited := e.eventsOf(0, pool.Exited, nil); len(exited) > 0 {
				t.Fatalf("%s exited with code %d", id, exited[0].Code)
			}
			bound := recordLease + 2*retryPeriod + time.Second
			led, _ := e.waitLeader(0, bound+10*time.Second)
			took := led.Time.Sub(lastStarted)
			t.Logf("%s: %s led %v after the foreign holder's last write (record's lease %v)", f.writer, id, took.Round(time.Millisecond), recordLease)
			if took < recordLease-requestSlack {
				t.Errorf("%s took over %v after the last foreign write, before the record's lease %v passed", id, took, recordLease)
			}
			if late := led.Time.Sub(lastDone); late > bound {
				t.Errorf("%s took over %v after the last foreign write, later than %v", id, late, bound)
			}
			if r, err := record.Decode(e.annotation(lock)); err != nil || r.HolderIdentity != id {
				t.Errorf("after the takeover the record is %+v, %v", r, err)
			}
		})
	}
}
