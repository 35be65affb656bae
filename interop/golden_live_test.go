package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/record"
)

// pyGolden builds each record exactly as leaderelection.py's
// try_acquire_or_renew does, LeaderElectionRecord(identity,
// str(lease_duration), str(now), str(now)) with now =
// datetime.datetime.fromtimestamp(time.time()), and serialises it exactly
// as ConfigMapLock.update does, json.dumps(self.get_lock_dict(record)). The
// zone is the one TZ names in its environment.
const pyGolden = `
import datetime, json, sys, time
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock

def local(instant):
    sec, micros = instant
    dt = datetime.datetime.fromtimestamp(sec + micros / 1e6)
    exact = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc) + datetime.timedelta(microseconds=micros)
    ambiguous = dt.replace(fold=0).timestamp() != dt.replace(fold=1).timestamp()
    return dt, dt.astimezone(datetime.timezone.utc) == exact, ambiguous

# ConfigMapLock.__init__ would build an API client; get_lock_dict only needs
# the dict __init__ sets up.
lock = ConfigMapLock.__new__(ConfigMapLock)
lock.lock_record = {'holderIdentity': None, 'leaseDurationSeconds': None, 'acquireTime': None, 'renewTime': None}
out = {"tzname": list(time.tzname), "cases": []}
for c in json.load(sys.stdin):
    acquire, exact_a, amb_a = local(c["acquire"])
    renew, exact_r, amb_r = local(c["renew"])
    rec = LeaderElectionRecord(c["identity"], str(c["lease"]), str(acquire), str(renew))
    out["cases"].append({"annotation": json.dumps(lock.get_lock_dict(rec)),
                         "exact": exact_a and exact_r, "ambiguous": amb_a or amb_r})
json.dump(out, sys.stdout)
`

type goldenCase struct {
	Name     string      `json:"name"`
	Identity string      `json:"identity"`
	Lease    json.Number `json:"lease"` // a JSON int is a Python int, "4"; else a float, "2.5"
	Acquire  [2]int64    `json:"acquire"`
	Renew    [2]int64    `json:"renew"`
}

func (c goldenCase) lease(t *testing.T) time.Duration {
	if n, err := c.Lease.Int64(); err == nil {
		return time.Duration(n) * time.Second
	}
	f, err := c.Lease.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(f * float64(time.Second))
}

func instant(i [2]int64) time.Time { return time.Unix(i[0], i[1]*1000) }

type pyGoldenOut struct {
	TZName []string `json:"tzname"`
	Cases  []struct {
		Annotation string `json:"annotation"`
		Exact      bool   `json:"exact"`
		Ambiguous  bool   `json:"ambiguous"`
	} `json:"cases"`
}

// TestGoldenVectorsLive runs the Python client's own record-building code
// live under several time zones and checks that record.Python.Encode writes
// the same bytes and that record.Decode reads Python's bytes back to the
// same record. record/testdata/golden.json holds vectors made the same way
// once; this test makes them afresh from the installed client, including
// the current time.
//
// It is not parallel: it sets time.Local, which every call of time.Now
// reads. Go runs the parallel tests of the package only after the
// sequential ones have returned, and TestMain leaves nothing running that
// reads the clock.
func TestGoldenVectorsLive(t *testing.T) {
	requirePython(t)
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"}
	for _, zone := range zones {
		// Without the system's zoneinfo glibc silently uses UTC.
		if _, err := os.Stat(filepath.Join("/usr/share/zoneinfo", zone)); err != nil {
			controlplane.SkipOrFail(t, "no system zoneinfo for %s (apt-get install tzdata): %v", zone, err)
		}
	}

	now := time.Now()
	nowI := [2]int64{now.Unix(), int64(now.Nanosecond() / 1000)}
	later := now.Add(1500 * time.Millisecond)
	laterI := [2]int64{later.Unix(), int64(later.Nanosecond() / 1000)}
	plus10 := func(i [2]int64) [2]int64 { return [2]int64{i[0] + 10, i[1]} }
	var cases []goldenCase
	for _, c := range []struct {
		name    string
		acquire [2]int64
	}{
		{"whole-second", [2]int64{1795342530, 0}},
		{"micros", [2]int64{1795342530, 123456}},
		{"one-micro", [2]int64{1795342530, 1}},
		{"before-epoch", [2]int64{-1, 500000}},
		{"after-2038", [2]int64{2208988800, 42}},
		{"berlin-autumn-ambiguous", [2]int64{1792890000 - 1800, 500000}},
		{"lord-howe-half-hour-shift", [2]int64{1791041400 - 1, 999999}},
	} {
		cases = append(cases, goldenCase{Name: c.name, Identity: "go-candidate-1", Lease: "4", Acquire: c.acquire, Renew: plus10(c.acquire)})
	}
	cases = append(cases,
		goldenCase{Name: "now", Identity: "go-candidate-1", Lease: "4", Acquire: nowI, Renew: laterI},
		goldenCase{Name: "fractional-lease", Identity: "go-candidate-1", Lease: "2.5", Acquire: nowI, Renew: laterI},
		goldenCase{Name: "non-ascii-identity", Identity: "leader-ä-节点-😀", Lease: "15", Acquire: nowI, Renew: laterI},
		goldenCase{Name: "escapes-identity", Identity: "say \"hi\" back\\slash\n\t\x01\x7f", Lease: "17", Acquire: nowI, Renew: laterI},
	)
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}

	// Every zone's Python process at once; nothing of them is left running
	// when time.Local changes below.
	outs := make([]pyGoldenOut, len(zones))
	errs := make([]error, len(zones))
	var wg sync.WaitGroup
	for i, zone := range zones {
		wg.Go(func() {
			cmd := pythonCommand(pyGolden, in, []string{"TZ=" + zone})
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err == nil {
				err = json.Unmarshal(stdout, &outs[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("python under TZ=%s: %v\n%s", zone, err, stderr.String())
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	old := time.Local
	t.Cleanup(func() { time.Local = old })
	compared := 0
	for i, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		time.Local = loc
		out := outs[i]
		if len(out.Cases) != len(cases) {
			t.Fatalf("TZ=%s: Python made %d records, want %d", zone, len(out.Cases), len(cases))
		}
		for j, c := range cases {
			py := out.Cases[j]
			name := zone + "/" + c.Name
			if !py.Exact {
				t.Fatalf("%s: Python's fromtimestamp did not come out at the exact microsecond", name)
			}
			r := record.Record{
				HolderIdentity: c.Identity,
				LeaseDuration:  c.lease(t),
				AcquireTime:    instant(c.Acquire),
				RenewTime:      instant(c.Renew),
			}
			if got := record.Python.Encode(r); got != py.Annotation {
				t.Errorf("%s (Python's tzname %v): Encode\n got %s\nwant %s", name, out.TZName, got, py.Annotation)
				continue
			}
			back, err := record.Decode(py.Annotation)
			if err != nil {
				t.Errorf("%s: Decode(%s): %v", name, py.Annotation, err)
				continue
			}
			if back.HolderIdentity != r.HolderIdentity || back.LeaseDuration != r.LeaseDuration {
				t.Errorf("%s: Decode = holder %q lease %v, want %q %v", name, back.HolderIdentity, back.LeaseDuration, r.HolderIdentity, r.LeaseDuration)
			}
			// A wall time that occurs twice may come back as the other
			// instant; it is still the same wall time, as the re-encoding
			// shows.
			if !py.Ambiguous && (!back.AcquireTime.Equal(r.AcquireTime) || !back.RenewTime.Equal(r.RenewTime)) {
				t.Errorf("%s: Decode times %v, %v; want %v, %v", name, back.AcquireTime, back.RenewTime, r.AcquireTime, r.RenewTime)
			}
			if got := record.Python.Encode(back); got != py.Annotation {
				t.Errorf("%s: Encode(Decode(python))\n got %s\nwant %s", name, got, py.Annotation)
			}
			compared++
		}
	}
	t.Logf("%d records in %d zones: our bytes are Python's, and we read Python's back", compared, len(zones))
}
