package pool

import (
	"testing"
	"time"
)

// A short term inside a longer one overlaps it only while it lasts: a
// leader resumed after SIGCONT that stops within the tolerance passes, one
// that stops later does not, and a term still open counts until now.
func TestCheckNoOverlapMeasuresTheOverlap(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name  string
		terms []Term
		ok    bool
	}{
		{"disjoint", []Term{{Identity: "a", Start: at(0), End: at(100)}, {Identity: "b", Start: at(100)}}, true},
		{"same identity", []Term{{Identity: "a", Start: at(0)}, {Identity: "a", Start: at(50), End: at(60)}}, true},
		{"resumed inside an open term, within tolerance", []Term{
			{Identity: "new", Start: at(0)},
			{Identity: "old", Start: at(1000), End: at(1150), Resumed: true},
		}, true},
		{"resumed inside an open term, beyond tolerance", []Term{
			{Identity: "new", Start: at(0)},
			{Identity: "old", Start: at(1000), End: at(1300), Resumed: true},
		}, false},
		{"resumed, still open", []Term{
			{Identity: "new", Start: at(0)},
			{Identity: "old", Start: at(1000), Resumed: true},
		}, false},
		{"instantaneous term inside another", []Term{
			{Identity: "a", Start: at(0), End: at(5000)},
			{Identity: "b", Start: at(1000), End: at(1000)},
		}, false},
		{"short term inside a longer one", []Term{
			{Identity: "a", Start: at(0), End: at(5000)},
			{Identity: "b", Start: at(1000), End: at(1001)},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNoOverlap(tc.terms, 200*time.Millisecond)
			if (err == nil) != tc.ok {
				t.Errorf("CheckNoOverlap = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
