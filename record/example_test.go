package record_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/kubepy/leaderelection/record"
)

func ExampleDialect_Encode() {
	// Python's times are local; fix the zone so the output is the same on
	// every machine.
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.UTC

	acquired := time.Date(2026, 11, 22, 10, 15, 30, 250_000_000, time.UTC)
	r := record.Record{
		HolderIdentity:    "pod-ä",
		LeaseDuration:     2500 * time.Millisecond,
		AcquireTime:       acquired,
		RenewTime:         acquired.Add(9750 * time.Millisecond),
		LeaderTransitions: 3,
	}
	fmt.Println(record.Python.Encode(r))
	fmt.Println(record.ClientGo.Encode(r))
	// Output:
	// {"holderIdentity": "pod-\u00e4", "leaseDurationSeconds": "2.5", "acquireTime": "2026-11-22 10:15:30.250000", "renewTime": "2026-11-22 10:15:40"}
	// {"holderIdentity":"pod-ä","leaseDurationSeconds":3,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:40Z","leaderTransitions":3}
}

func ExampleDecode() {
	// A record client-go wrote: zoned times, so time.Local does not matter.
	r, err := record.Decode(`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30Z","renewTime":"2026-11-22T10:15:45Z","leaderTransitions":3}`)
	fmt.Println(r.HolderIdentity, r.LeaseDuration, r.RenewTime.Sub(r.AcquireTime), r.LeaderTransitions, err)

	// A released Python lock: the Python client sees no record, and neither
	// do we.
	_, err = record.Decode(`{"holderIdentity": "", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:45"}`)
	fmt.Println(errors.Is(err, record.ErrNoRecord))

	_, err = record.Decode(`not json`)
	fmt.Println(errors.Is(err, record.ErrMalformed))
	// Output:
	// a 15s 15s 3 <nil>
	// true
	// true
}
