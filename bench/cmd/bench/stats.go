package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// summary is the distribution of one figure over repeated trials.
type summary struct {
	N                          int
	Min, P10, Median, P90, Max float64
	values                     []float64
}

func summarize(values []float64) summary {
	s := summary{N: len(values), values: slices.Clone(values)}
	if s.N == 0 {
		return s
	}
	slices.Sort(s.values)
	s.Min, s.Max = s.values[0], s.values[s.N-1]
	s.P10, s.Median, s.P90 = quantile(s.values, 0.1), quantile(s.values, 0.5), quantile(s.values, 0.9)
	return s
}

// quantile interpolates linearly between the sorted values.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

func durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// fmtSeconds prints a duration in seconds with a unit that suits it.
func fmtSeconds(s float64) string {
	a := math.Abs(s)
	switch {
	case math.IsNaN(s):
		return "—"
	case a < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case a < 10:
		return fmt.Sprintf("%.2f s", s)
	default:
		return fmt.Sprintf("%.1f s", s)
	}
}

// fmtDist prints "median (min – max, n=N)" of durations in seconds.
func fmtDist(s summary) string {
	if s.N == 0 {
		return "not measured"
	}
	if s.N == 1 {
		return fmt.Sprintf("%s (n=1)", fmtSeconds(s.Median))
	}
	return fmt.Sprintf("%s (%s – %s, n=%d)", fmtSeconds(s.Median), fmtSeconds(s.Min), fmtSeconds(s.Max), s.N)
}
