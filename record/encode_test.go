package record_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/record"
)

func TestDialectString(t *testing.T) {
	for d, want := range map[record.Dialect]string{
		record.Python:   "Python",
		record.ClientGo: "ClientGo",
		7:               "Dialect(7)",
		-1:              "Dialect(-1)",
	} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(d), got, want)
		}
	}
	var zero record.Dialect
	if zero != record.Python {
		t.Errorf("zero Dialect is %v, want Python", zero)
	}
}

// at is 2026-11-22 10:15:30 UTC plus ns nanoseconds.
func at(ns int) time.Time {
	return time.Date(2026, 11, 22, 10, 15, 30, ns, time.UTC)
}

func TestPythonEncode(t *testing.T) {
	setLocal(t, "UTC")
	base := record.Record{HolderIdentity: "a", LeaseDuration: 15 * time.Second, AcquireTime: at(0), RenewTime: at(0)}
	const prefix = `{"holderIdentity": "a", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30`
	tests := []struct {
		name string
		r    record.Record
		want string
	}{
		{"whole", base, prefix + `", "renewTime": "2026-11-22 10:15:30"}`},
		// Ties round to the even microsecond, as datetime.fromtimestamp
		// does; Go's Time.Round would round them up.
		{"below half", withAcquire(base, at(1_499)), prefix + `.000001", "renewTime": "2026-11-22 10:15:30"}`},
		{"tie to even down", withAcquire(base, at(2_500)), prefix + `.000002", "renewTime": "2026-11-22 10:15:30"}`},
		{"tie to even up", withAcquire(base, at(1_500)), prefix + `.000002", "renewTime": "2026-11-22 10:15:30"}`},
		{"above half", withAcquire(base, at(2_501)), prefix + `.000003", "renewTime": "2026-11-22 10:15:30"}`},
		{"carry into second", withAcquire(base, at(999_999_500)), `{"holderIdentity": "a", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:31", "renewTime": "2026-11-22 10:15:30"}`},
		{"zero times", record.Record{HolderIdentity: "a", LeaseDuration: 15 * time.Second},
			`{"holderIdentity": "a", "leaseDurationSeconds": "15", "acquireTime": "0001-01-01 00:00:00", "renewTime": "0001-01-01 00:00:00"}`},
		{"invalid UTF-8", record.Record{HolderIdentity: "a\xffb\xc3", AcquireTime: at(0), RenewTime: at(0)},
			`{"holderIdentity": "a\ufffdb\ufffd", "leaseDurationSeconds": "0", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:30"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := record.Python.Encode(tt.r); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func withAcquire(r record.Record, t time.Time) record.Record {
	r.AcquireTime = t
	return r
}

// TestPythonLease covers leases beyond the golden vectors: Python's repr
// for the absurd ones.
func TestPythonLease(t *testing.T) {
	setLocal(t, "UTC")
	for d, want := range map[time.Duration]string{
		0:                             "0",
		-15 * time.Second:             "-15",
		-2500 * time.Millisecond:      "-2.5",
		time.Nanosecond:               "1e-09",
		99 * time.Microsecond:         "9.9e-05",
		100 * time.Microsecond:        "0.0001",
		1234567500 * time.Millisecond: "1234567.5",
		time.Duration(math.MaxInt64):  "9223372036.854776",
		time.Duration(math.MinInt64):  "-9223372036.854776",
	} {
		r := record.Record{HolderIdentity: "a", LeaseDuration: d, AcquireTime: at(0), RenewTime: at(0)}
		want := `{"holderIdentity": "a", "leaseDurationSeconds": "` + want + `", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:30"}`
		if got := record.Python.Encode(r); got != want {
			t.Errorf("lease %d:\n got %s\nwant %s", int64(d), got, want)
		}
	}
}

func TestUnknownDialectEncodesPython(t *testing.T) {
	r := record.Record{HolderIdentity: "a", LeaseDuration: time.Second, AcquireTime: at(0), RenewTime: at(0)}
	if got, want := record.Dialect(42).Encode(r), record.Python.Encode(r); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestClientGoEncode(t *testing.T) {
	tests := []struct {
		name string
		r    record.Record
		want string
	}{
		{"brief", record.Record{HolderIdentity: "a", LeaseDuration: 15 * time.Second, AcquireTime: at(0), RenewTime: at(0), LeaderTransitions: 3},
			`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:30Z","leaderTransitions":3}`},
		{"fraction dropped, UTC, lease rounded up", record.Record{
			HolderIdentity: "ä<&>\u2028", LeaseDuration: 2500 * time.Millisecond,
			AcquireTime: at(999_999_999).In(time.FixedZone("X", 3600)), RenewTime: at(1)},
			`{"holderIdentity":"ä\u003c\u0026\u003e\u2028","leaseDurationSeconds":3,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:30Z","leaderTransitions":0}`},
		{"zero", record.Record{},
			`{"holderIdentity":"","leaseDurationSeconds":0,"acquireTime":null,"renewTime":null,"leaderTransitions":0}`},
		{"one nanosecond", record.Record{LeaseDuration: 1},
			`{"holderIdentity":"","leaseDurationSeconds":1,"acquireTime":null,"renewTime":null,"leaderTransitions":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := record.ClientGo.Encode(tt.r); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// clientGoRecord mirrors client-go's LeaderElectionRecord up to v0.27, with
// metav1.Time's marshalling, so that encoding/json is the reference.
type clientGoRecord struct {
	HolderIdentity       string     `json:"holderIdentity"`
	LeaseDurationSeconds int        `json:"leaseDurationSeconds"`
	AcquireTime          metav1Time `json:"acquireTime"`
	RenewTime            metav1Time `json:"renewTime"`
	LeaderTransitions    int        `json:"leaderTransitions"`
}

type metav1Time struct{ time.Time }

func (t metav1Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(time.RFC3339) + `"`), nil
}

func clientGoReference(t testing.TB, r record.Record) string {
	secs := int((r.LeaseDuration + time.Second - 1) / time.Second)
	if r.LeaseDuration <= 0 {
		secs = int(r.LeaseDuration / time.Second)
	}
	b, err := json.Marshal(clientGoRecord{r.HolderIdentity, secs, metav1Time{r.AcquireTime}, metav1Time{r.RenewTime}, r.LeaderTransitions})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClientGoMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	identities := []string{"", "a", "\x00\x1f\x7f\b\f\n\r\t\"\\/", "<script>&", "\u2028\u2029", "\xff\xc3(", "ä节😀", "\U0010ffff"}
	for i := range 2000 {
		r := randomRecord(rng)
		if i < len(identities) {
			r.HolderIdentity = identities[i]
		}
		r.LeaseDuration -= time.Duration(rng.Int64N(int64(time.Hour)))
		if got, want := record.ClientGo.Encode(r), clientGoReference(t, r); got != want {
			t.Fatalf("%+v:\n got %s\nwant %s", r, got, want)
		}
	}
}

// randomRecord returns a record with microsecond times between 1970 and
// 2100, a lease up to a day, and an identity of random runes.
func randomRecord(rng *rand.Rand) record.Record {
	runes := []rune{'a', 'Z', '0', '-', '.', '"', '\\', '/', '\n', '\x00', '\x7f', 'ä', '节', '😀', '\u2028', '<'}
	id := make([]rune, 1+rng.IntN(12))
	for i := range id {
		id[i] = runes[rng.IntN(len(runes))]
	}
	instant := func() time.Time {
		return time.UnixMicro(rng.Int64N(4102444800_000000))
	}
	return record.Record{
		HolderIdentity:    string(id),
		LeaseDuration:     time.Duration(rng.Int64N(int64(24 * time.Hour))),
		AcquireTime:       instant(),
		RenewTime:         instant(),
		LeaderTransitions: rng.IntN(1000),
	}
}

// TestRoundTrip checks that what we write in either dialect reads back as
// what we meant, in zones without DST, where every wall time is unambiguous
// (the golden vectors cover zones with DST).
func TestRoundTrip(t *testing.T) {
	for _, zone := range []string{"UTC", "Asia/Kolkata"} {
		t.Run(zone, func(t *testing.T) {
			setLocal(t, zone)
			rng := rand.New(rand.NewPCG(3, 4))
			for range 2000 {
				r := randomRecord(rng)
				if rng.IntN(2) == 0 {
					r.LeaseDuration = r.LeaseDuration.Truncate(time.Second)
				}
				enc := record.Python.Encode(r)
				got, err := record.Decode(enc)
				if err != nil {
					t.Fatalf("Decode(%s): %v", enc, err)
				}
				want := r
				want.LeaderTransitions = 0 // Python drops it.
				if !sameRecord(got, want) {
					t.Fatalf("Decode(Python.Encode(%+v)) = %+v", r, got)
				}

				enc = record.ClientGo.Encode(r)
				got, err = record.Decode(enc)
				if err != nil {
					t.Fatalf("Decode(%s): %v", enc, err)
				}
				want = r
				want.LeaseDuration = (r.LeaseDuration + time.Second - 1).Truncate(time.Second)
				want.AcquireTime = r.AcquireTime.Truncate(time.Second)
				want.RenewTime = r.RenewTime.Truncate(time.Second)
				if !sameRecord(got, want) {
					t.Fatalf("Decode(ClientGo.Encode(%+v)) = %+v", r, got)
				}
			}
		})
	}
}

func sameRecord(a, b record.Record) bool {
	return a.HolderIdentity == b.HolderIdentity && a.LeaseDuration == b.LeaseDuration &&
		a.AcquireTime.Equal(b.AcquireTime) && a.RenewTime.Equal(b.RenewTime) &&
		a.LeaderTransitions == b.LeaderTransitions
}

// TestNilLocal: a program that sets time.Local to nil gets UTC, not a panic.
func TestNilLocal(t *testing.T) {
	old := time.Local
	time.Local = nil
	defer func() { time.Local = old }()
	r := record.Record{HolderIdentity: "a", LeaseDuration: time.Second, AcquireTime: at(0), RenewTime: at(0)}
	enc := record.Python.Encode(r)
	if _, err := record.Decode(enc); err != nil {
		t.Fatalf("Decode(%s): %v", enc, err)
	}
}
