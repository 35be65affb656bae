package pool

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Term is a stretch of time in which a candidate led.
type Term struct {
	Identity string
	Start    time.Time
	End      time.Time // zero while still leading
	// How it ended: stopped_leading, SIGKILL, SIGSTOP (frozen: a frozen
	// process does no work), exited, or "" while still leading.
	EndedBy string
	// Resumed marks the stretch between SIGCONT and the stop of a leader
	// that was frozen while it led: no lease can keep the paused process
	// from running for the instant it needs to notice.
	Resumed bool
}

// Terms reconstructs every leadership term from a pool's events.
func Terms(events []Event) []Term {
	var terms []Term
	open := map[string]int{}          // identity -> index of its open term
	frozenLeader := map[string]bool{} // frozen while leading
	end := func(id string, at time.Time, by string) {
		if i, ok := open[id]; ok {
			terms[i].End, terms[i].EndedBy = at, by
			delete(open, id)
		}
	}
	for _, ev := range events {
		switch ev.Event {
		case StartedLeading:
			end(ev.Identity, ev.Time, "restarted") // a second start without a stop
			open[ev.Identity] = len(terms)
			terms = append(terms, Term{Identity: ev.Identity, Start: ev.Time})
		case StoppedLeading:
			end(ev.Identity, ev.Time, StoppedLeading)
			delete(frozenLeader, ev.Identity)
		case Exited:
			end(ev.Identity, ev.Time, Exited)
			delete(frozenLeader, ev.Identity)
		case Signalled:
			switch ev.Signal {
			case "killed":
				end(ev.Identity, ev.Time, "SIGKILL")
			case "stopped (signal)":
				if _, leading := open[ev.Identity]; leading {
					frozenLeader[ev.Identity] = true
					end(ev.Identity, ev.Time, "SIGSTOP")
				}
			case "continued":
				if frozenLeader[ev.Identity] {
					open[ev.Identity] = len(terms)
					terms = append(terms, Term{Identity: ev.Identity, Start: ev.Time, Resumed: true})
				}
			}
		}
	}
	return terms
}

// CheckNoOverlap returns an error describing every pair of terms that
// overlap in time. A Resumed term may overlap others by at most
// resumedTolerance.
func CheckNoOverlap(terms []Term, resumedTolerance time.Duration) error {
	sorted := append([]Term(nil), terms...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	var problems []string
	for i, a := range sorted {
		for _, b := range sorted[i+1:] {
			aEnd, bEnd := a.End, b.End
			now := time.Now()
			if aEnd.IsZero() {
				aEnd = now
			}
			if bEnd.IsZero() {
				bEnd = now
			}
			if a.Identity == b.Identity || !b.Start.Before(aEnd) {
				continue
			}
			// b started while a led: they overlap from b's start until
			// the first of them ended (zero for an instantaneous b, still
			// an overlap).
			end := aEnd
			if bEnd.Before(end) {
				end = bEnd
			}
			overlap := end.Sub(b.Start)
			if (a.Resumed || b.Resumed) && overlap <= resumedTolerance {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s led %s–%s (%s) and %s started at %s: overlap %v",
				a.Identity, a.Start.Format("15:04:05.000"), aEnd.Format("15:04:05.000"), a.EndedBy,
				b.Identity, b.Start.Format("15:04:05.000"), overlap))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("pool: two leaders at once:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

// Timeline renders terms as lines a person can read, times relative to t0.
func Timeline(terms []Term, t0 time.Time) string {
	var b strings.Builder
	for _, t := range terms {
		end, by := fmt.Sprintf("%8s", "…"), "still leading"
		if !t.End.IsZero() {
			end, by = fmt.Sprintf("%7.3fs", t.End.Sub(t0).Seconds()), t.EndedBy
		}
		note := ""
		if t.Resumed {
			note = " (resumed after SIGCONT)"
		}
		fmt.Fprintf(&b, "%7.3fs – %s  %-24s until %s%s\n", t.Start.Sub(t0).Seconds(), end, t.Identity, by, note)
	}
	return b.String()
}

// EventDump renders events one per line, times in seconds since t0, for a
// failed test's log.
func EventDump(events []Event, t0 time.Time) string {
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "%8.3fs %-16s %-15s", ev.Time.Sub(t0).Seconds(), ev.Identity, ev.Event)
		if ev.Leader != "" {
			fmt.Fprintf(&b, " leader=%s", ev.Leader)
		}
		if ev.Signal != "" {
			fmt.Fprintf(&b, " signal=%q", ev.Signal)
		}
		if ev.Event == Exited {
			fmt.Fprintf(&b, " code=%d", ev.Code)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
