package record_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/record"
)

// utc is 2026-11-22 10:15:30 UTC plus ms milliseconds.
func utc(ms int) time.Time { return at(ms * int(time.Millisecond)) }

// rec builds a record.
func rec(holder string, lease time.Duration, acquire, renew time.Time, transitions int) record.Record {
	return record.Record{
		HolderIdentity:    holder,
		LeaseDuration:     lease,
		AcquireTime:       acquire,
		RenewTime:         renew,
		LeaderTransitions: transitions,
	}
}

// withField returns a Python-style record with key set to the raw JSON v.
func withField(key, v string) string {
	fields := []string{
		`"holderIdentity": "a"`,
		`"leaseDurationSeconds": "15"`,
		`"acquireTime": "2026-11-22 10:15:30"`,
		`"renewTime": "2026-11-22 10:15:30"`,
	}
	for i, f := range fields {
		if strings.HasPrefix(f, `"`+key+`"`) {
			fields[i] = `"` + key + `": ` + v
			return "{" + strings.Join(fields, ", ") + "}"
		}
	}
	return "{" + strings.Join(fields, ", ") + `, "` + key + `": ` + v + "}"
}

// The tests run with time.Local = UTC, so that naive times are UTC.
var decodeTests = []struct {
	name string
	in   string
	want record.Record
	err  error
}{
	// What the clients write.
	{"python", `{"holderIdentity": "pod-a", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30.250000", "renewTime": "2026-11-22 10:15:40"}`,
		rec("pod-a", 15*time.Second, utc(250), utc(10000), 0), nil},
	{"python fractional lease", `{"holderIdentity": "pod-\u00e4", "leaseDurationSeconds": "2.5", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:30.000001"}`,
		rec("pod-ä", 2500*time.Millisecond, utc(0), at(1000), 0), nil},
	{"client-go", `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:30Z","leaderTransitions":3}`,
		rec("a", 15*time.Second, utc(0), utc(0), 3), nil},
	{"client-go v0.28+", `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:30Z","leaderTransitions":3,"strategy":"","preferredHolder":"b"}`,
		rec("a", 15*time.Second, utc(0), utc(0), 3), nil},
	{"client-go released", `{"holderIdentity":"","leaseDurationSeconds":1,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:30Z","leaderTransitions":4}`,
		rec("", 1*time.Second, utc(0), utc(0), 4), record.ErrNoRecord},
	{"client-go zero times", `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":null,"renewTime":null,"leaderTransitions":0}`,
		rec("a", 15*time.Second, time.Time{}, time.Time{}, 0), record.ErrNoRecord},
	{"java millis", `{"holderIdentity":"java-1","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30.250Z","renewTime":"2026-11-22T10:15:40.125Z","leaderTransitions":1}`,
		rec("java-1", 15*time.Second, utc(250), utc(10125), 1), nil},
	{"csharp micros", `{"holderIdentity":"cs-1","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30.250000Z","renewTime":"2026-11-22T11:15:30.000001+01:00","leaderTransitions":0}`,
		rec("cs-1", 15*time.Second, utc(250), at(1000), 0), nil},
	{"istio holderKey", `{"holderIdentity":"istiod-1","holderKey":"default","leaseDurationSeconds":30,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:30Z","leaderTransitions":2}`,
		rec("istiod-1", 30*time.Second, utc(0), utc(0), 2), nil},
	{"fabric8 leaseDuration", `{"holderIdentity":"f8-1","leaseDuration":15.000000000,"acquireTime":"2026-11-22T10:15:30.250Z","renewTime":"2026-11-22T10:15:40.250Z","leaderTransitions":5}`,
		rec("f8-1", 0, utc(250), utc(10250), 5), record.ErrNoRecord},

	// No record, as Python sees it.
	{"empty annotation", ``, record.Record{}, record.ErrNoRecord},
	{"empty object", `{}`, record.Record{}, record.ErrNoRecord},
	{"nulls", `{"holderIdentity": null, "leaseDurationSeconds": null, "acquireTime": null, "renewTime": null}`, record.Record{}, record.ErrNoRecord},
	{"empty holder", withField("holderIdentity", `""`), rec("", 15*time.Second, utc(0), utc(0), 0), record.ErrNoRecord},
	{"false holder", withField("holderIdentity", `false`), rec("", 15*time.Second, utc(0), utc(0), 0), record.ErrNoRecord},
	{"zero holder", withField("holderIdentity", `0`), rec("", 15*time.Second, utc(0), utc(0), 0), record.ErrNoRecord},
	{"empty list holder", withField("holderIdentity", `[ ]`), rec("", 15*time.Second, utc(0), utc(0), 0), record.ErrNoRecord},
	{"empty object holder", withField("holderIdentity", `{}`), rec("", 15*time.Second, utc(0), utc(0), 0), record.ErrNoRecord},
	{"zero lease", withField("leaseDurationSeconds", `0`), rec("a", 0, utc(0), utc(0), 0), record.ErrNoRecord},
	{"negative zero lease", withField("leaseDurationSeconds", `-0`), rec("a", 0, utc(0), utc(0), 0), record.ErrNoRecord},
	{"float zero lease", withField("leaseDurationSeconds", `0.0e5`), rec("a", 0, utc(0), utc(0), 0), record.ErrNoRecord},
	{"underflowing lease", withField("leaseDurationSeconds", `1e-400`), rec("a", 0, utc(0), utc(0), 0), record.ErrNoRecord},
	{"empty lease", withField("leaseDurationSeconds", `""`), rec("a", 0, utc(0), utc(0), 0), record.ErrNoRecord},
	{"missing acquire", `{"holderIdentity": "a", "leaseDurationSeconds": "15", "renewTime": "2026-11-22 10:15:30"}`, rec("a", 15*time.Second, time.Time{}, utc(0), 0), record.ErrNoRecord},
	{"empty renew", withField("renewTime", `""`), rec("a", 15*time.Second, utc(0), time.Time{}, 0), record.ErrNoRecord},
	{"keys are case-sensitive", `{"HolderIdentity": "a", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:30"}`,
		rec("", 15*time.Second, utc(0), utc(0), 0), record.ErrNoRecord},

	// Truthy, whatever the type.
	{"string zero lease is truthy", withField("leaseDurationSeconds", `"0"`), rec("a", 0, utc(0), utc(0), 0), nil},
	{"true holder", withField("holderIdentity", `true`), rec("true", 15*time.Second, utc(0), utc(0), 0), nil},
	{"number holder", withField("holderIdentity", `4.20`), rec("4.20", 15*time.Second, utc(0), utc(0), 0), nil},
	{"object holder", withField("holderIdentity", `{"a": [1, "\u00e4"]}`), rec(`{"a":[1,"\u00e4"]}`, 15*time.Second, utc(0), utc(0), 0), nil},
	{"space holder", withField("holderIdentity", `" "`), rec(" ", 15*time.Second, utc(0), utc(0), 0), nil},
	{"last duplicate wins", `{"holderIdentity": "a", "holderIdentity": "b", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:30"}`,
		rec("b", 15*time.Second, utc(0), utc(0), 0), nil},

	// Leases.
	{"int lease", withField("leaseDurationSeconds", `17`), rec("a", 17*time.Second, utc(0), utc(0), 0), nil},
	{"string lease", withField("leaseDurationSeconds", `"17"`), rec("a", 17*time.Second, utc(0), utc(0), 0), nil},
	{"padded lease", withField("leaseDurationSeconds", `" 17 "`), rec("a", 17*time.Second, utc(0), utc(0), 0), nil},
	{"float string lease", withField("leaseDurationSeconds", `"17.0"`), rec("a", 17*time.Second, utc(0), utc(0), 0), nil},
	{"float lease", withField("leaseDurationSeconds", `2.5`), rec("a", 2500*time.Millisecond, utc(0), utc(0), 0), nil},
	{"repr lease", withField("leaseDurationSeconds", `"1.1"`), rec("a", 1100*time.Millisecond, utc(0), utc(0), 0), nil},
	{"exponent lease", withField("leaseDurationSeconds", `"1e-05"`), rec("a", 10*time.Microsecond, utc(0), utc(0), 0), nil},
	{"word lease", withField("leaseDurationSeconds", `"fifteen"`), rec("a", 0, utc(0), utc(0), 0), nil},
	{"negative lease", withField("leaseDurationSeconds", `-5`), rec("a", 0, utc(0), utc(0), 0), nil},
	{"negative string lease", withField("leaseDurationSeconds", `"-2.5"`), rec("a", 0, utc(0), utc(0), 0), nil},
	{"NaN lease", withField("leaseDurationSeconds", `"NaN"`), rec("a", 0, utc(0), utc(0), 0), nil},
	{"inf lease", withField("leaseDurationSeconds", `"inf"`), rec("a", math.MaxInt64, utc(0), utc(0), 0), nil},
	{"huge float lease", withField("leaseDurationSeconds", `1e300`), rec("a", math.MaxInt64, utc(0), utc(0), 0), nil},
	{"overflowing float lease", withField("leaseDurationSeconds", `1e400`), rec("a", math.MaxInt64, utc(0), utc(0), 0), nil},
	{"huge int lease", withField("leaseDurationSeconds", `99999999999999999999`), rec("a", math.MaxInt64, utc(0), utc(0), 0), nil},
	{"largest whole lease", withField("leaseDurationSeconds", `9223372036`), rec("a", 9223372036*time.Second, utc(0), utc(0), 0), nil},
	{"just too large lease", withField("leaseDurationSeconds", `9223372037`), rec("a", math.MaxInt64, utc(0), utc(0), 0), nil},
	{"bool lease", withField("leaseDurationSeconds", `true`), rec("a", 0, utc(0), utc(0), 0), nil},
	{"list lease", withField("leaseDurationSeconds", `[15]`), rec("a", 0, utc(0), utc(0), 0), nil},

	// Times.
	{"iso local", withField("acquireTime", `"2026-11-22T10:15:30"`), rec("a", 15*time.Second, utc(0), utc(0), 0), nil},
	{"iso local fraction", withField("acquireTime", `"2026-11-22T10:15:30.5"`), rec("a", 15*time.Second, utc(500), utc(0), 0), nil},
	{"rfc3339 offset", withField("acquireTime", `"2026-11-22T11:45:30+01:30"`), rec("a", 15*time.Second, utc(0), utc(0), 0), nil},
	{"rfc3339 nanos", withField("acquireTime", `"2026-11-22T10:15:30.000000001Z"`), rec("a", 15*time.Second, at(1), utc(0), 0), nil},
	{"python aware", withField("acquireTime", `"2026-11-22 10:15:30.250000+00:00"`), rec("a", 15*time.Second, utc(250), utc(0), 0), nil},
	{"padded time", withField("acquireTime", `" 2026-11-22 10:15:30 "`), rec("a", 15*time.Second, utc(0), utc(0), 0), nil},
	{"word time", withField("acquireTime", `"yesterday"`), rec("a", 15*time.Second, time.Time{}, utc(0), 0), nil},
	{"impossible time", withField("acquireTime", `"2026-13-45 10:15:30"`), rec("a", 15*time.Second, time.Time{}, utc(0), 0), nil},
	{"slashed time", withField("acquireTime", `"2026/11/22 10:15:30"`), rec("a", 15*time.Second, time.Time{}, utc(0), 0), nil},
	{"number time", withField("acquireTime", `1795342530`), rec("a", 15*time.Second, time.Time{}, utc(0), 0), nil},
	{"object time", withField("acquireTime", `{"t": 1}`), rec("a", 15*time.Second, time.Time{}, utc(0), 0), nil},

	// leaderTransitions.
	{"float transitions", withField("leaderTransitions", `3.0`), rec("a", 15*time.Second, utc(0), utc(0), 3), nil},
	{"negative transitions", withField("leaderTransitions", `-1`), rec("a", 15*time.Second, utc(0), utc(0), -1), nil},
	{"huge transitions", withField("leaderTransitions", `1e300`), rec("a", 15*time.Second, utc(0), utc(0), math.MaxInt), nil},
	{"huge int transitions", withField("leaderTransitions", `99999999999999999999`), rec("a", 15*time.Second, utc(0), utc(0), math.MaxInt), nil},
	{"string transitions", withField("leaderTransitions", `"3"`), rec("a", 15*time.Second, utc(0), utc(0), 0), nil},
	{"null transitions", withField("leaderTransitions", `null`), rec("a", 15*time.Second, utc(0), utc(0), 0), nil},

	// Not a JSON object.
	{"not JSON", `holder=a`, record.Record{}, record.ErrMalformed},
	{"whitespace", `  `, record.Record{}, record.ErrMalformed},
	{"truncated", `{"holderIdentity": "a"`, record.Record{}, record.ErrMalformed},
	{"trailing garbage", `{"holderIdentity": "a"} x`, record.Record{}, record.ErrMalformed},
	{"python NaN", `{"holderIdentity": "a", "leaseDurationSeconds": NaN}`, record.Record{}, record.ErrMalformed},
	{"array", `[{"holderIdentity": "a"}]`, record.Record{}, record.ErrMalformed},
	{"string", `"{\"holderIdentity\": \"a\"}"`, record.Record{}, record.ErrMalformed},
	{"number", `15`, record.Record{}, record.ErrMalformed},
	{"bool", `true`, record.Record{}, record.ErrMalformed},
	{"null", `null`, record.Record{}, record.ErrMalformed},
}

func TestDecode(t *testing.T) {
	setLocal(t, "UTC")
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := record.Decode(tt.in)
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("Decode(%s) error %v, want none", tt.in, err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("Decode(%s) error %v, want %v", tt.in, err, tt.err)
			}
			if !sameRecord(got, tt.want) {
				t.Errorf("Decode(%s)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			// Errors are one kind or the other.
			if errors.Is(err, record.ErrNoRecord) && errors.Is(err, record.ErrMalformed) {
				t.Errorf("error %v is both kinds", err)
			}
		})
	}
}

// TestDecodeNaiveTimesAreLocal checks that Python's zone-less times are read
// in time.Local and zoned ones are not.
func TestDecodeNaiveTimesAreLocal(t *testing.T) {
	setLocal(t, "Europe/Berlin")
	got, err := record.Decode(`{"holderIdentity": "a", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 11:15:30", "renewTime": "2026-11-22T10:15:30Z"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !got.AcquireTime.Equal(utc(0)) || !got.RenewTime.Equal(utc(0)) {
		t.Errorf("got %v and %v, want both %v", got.AcquireTime, got.RenewTime, utc(0))
	}
}

// TestDecodeErrorMessages is the one test that reads messages: they must
// name what is wrong.
func TestDecodeErrorMessages(t *testing.T) {
	setLocal(t, "UTC")
	for in, want := range map[string]string{
		withField("holderIdentity", `""`):              "record: no election record: holderIdentity is empty",
		withField("renewTime", `null`):                 "record: no election record: renewTime is null",
		withField("acquireTime", `false`):              "record: no election record: acquireTime is false",
		withField("leaseDurationSeconds", `0`):         "record: no election record: leaseDurationSeconds is zero",
		`{"holderIdentity": "a", "leaseDuration": 15}`: "record: no election record: leaseDurationSeconds is missing, acquireTime is missing, renewTime is missing",
		`{"a": `: "record: annotation is not a JSON object: unexpected end of JSON input",
		`[]`:     "record: annotation is not a JSON object: found a JSON array",
		`null`:   "record: annotation is not a JSON object: found JSON null",
		``:       "record: no election record",
	} {
		if _, err := record.Decode(in); err == nil || err.Error() != want {
			t.Errorf("Decode(%s) error %q, want %q", in, err, want)
		}
	}
}
