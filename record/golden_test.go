package record_test

// The golden vectors in testdata/golden.json are the Python client's own
// output. Regenerate them from the repository root with
//
//	/usr/bin/python3 record/testdata/gen_golden.py

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"
	// Only a fallback: LoadLocation prefers the system zoneinfo, which is
	// what the Python generator used through glibc.
	_ "time/tzdata"

	"github.com/kubepy/leaderelection/record"
)

type goldenInstant struct {
	UnixSeconds int64 `json:"unixSeconds"`
	Micros      int64 `json:"micros"`
}

func (i goldenInstant) time() time.Time {
	return time.Unix(i.UnixSeconds, i.Micros*1000)
}

type goldenCase struct {
	TZ           string        `json:"tz"`
	Name         string        `json:"name"`
	Identity     string        `json:"identity"`
	LeaseSeconds json.Number   `json:"leaseSeconds"`
	Acquire      goldenInstant `json:"acquire"`
	Renew        goldenInstant `json:"renew"`
	Ambiguous    bool          `json:"ambiguous"`
	Expected     string        `json:"expected"`
}

// lease is the Duration the Python lease stands for: a Python int is whole
// seconds, a float the nearest nanosecond.
func (c goldenCase) lease(t *testing.T) time.Duration {
	if n, err := c.LeaseSeconds.Int64(); err == nil {
		return time.Duration(n) * time.Second
	}
	f, err := c.LeaseSeconds.Float64()
	if err != nil {
		t.Fatalf("leaseSeconds %q: %v", c.LeaseSeconds, err)
	}
	return time.Duration(math.Round(f * 1e9))
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var cases []goldenCase
	if err := dec.Decode(&cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	return cases
}

// setLocal makes name the local zone until the test ends. Tests that call it
// must not run in parallel: time.Local is global.
func setLocal(t testing.TB, name string) {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Local
	time.Local = loc
	t.Cleanup(func() { time.Local = old })
}

func TestPythonGolden(t *testing.T) {
	for _, c := range loadGolden(t) {
		t.Run(c.TZ+"/"+c.Name, func(t *testing.T) {
			setLocal(t, c.TZ)
			r := record.Record{
				HolderIdentity:    c.Identity,
				LeaseDuration:     c.lease(t),
				AcquireTime:       c.Acquire.time(),
				RenewTime:         c.Renew.time(),
				LeaderTransitions: 7, // Python has no such field.
			}
			if got := record.Python.Encode(r); got != c.Expected {
				t.Fatalf("Encode:\n got %s\nwant %s", got, c.Expected)
			}

			back, err := record.Decode(c.Expected)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := record.Python.Encode(back); got != c.Expected {
				t.Errorf("Encode(Decode):\n got %s\nwant %s", got, c.Expected)
			}
			if back.HolderIdentity != r.HolderIdentity || back.LeaseDuration != r.LeaseDuration || back.LeaderTransitions != 0 {
				t.Errorf("Decode = %+v, want holder %q lease %v transitions 0", back, r.HolderIdentity, r.LeaseDuration)
			}
			if back.AcquireTime.Location() != time.Local || back.RenewTime.Location() != time.Local {
				t.Errorf("Decode times in %v and %v, want Local", back.AcquireTime.Location(), back.RenewTime.Location())
			}
			// A wall time that occurs twice may read back as the other
			// instant; the re-encoding above shows it is the same wall time.
			if !c.Ambiguous && (!back.AcquireTime.Equal(r.AcquireTime) || !back.RenewTime.Equal(r.RenewTime)) {
				t.Errorf("Decode times %v, %v; want %v, %v", back.AcquireTime, back.RenewTime, r.AcquireTime, r.RenewTime)
			}
		})
	}
}
