package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
)

func TestParseLabels(t *testing.T) {
	got := parseLabels(`code="200",component="apiserver",resource="configmaps",verb="GET",x="a\"b,c"`)
	want := map[string]string{"code": "200", "component": "apiserver", "resource": "configmaps", "verb": "GET", "x": `a"b,c`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d labels, want %d: %v", len(got), len(want), got)
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{5, 1, 3, 2, 4})
	if s.N != 5 || s.Min != 1 || s.Max != 5 || s.Median != 3 || math.Abs(s.P10-1.4) > 1e-9 || math.Abs(s.P90-4.6) > 1e-9 {
		t.Errorf("summarize = %+v", s)
	}
	if e := summarize(nil); e.N != 0 || fmtDist(e) != "not measured" {
		t.Errorf("empty summary = %+v, %q", e, fmtDist(e))
	}
}

func TestHistQuantile(t *testing.T) {
	bounds := []float64{1, 10, 100}
	hist := []int64{50, 40, 9, 1} // the last is +Inf
	if q := histQuantile(hist, bounds, 0.5); q != 1 {
		t.Errorf("p50 = %v, want 1", q)
	}
	if q := histQuantile(hist, bounds, 0.99); q != 100 {
		t.Errorf("p99 = %v, want 100", q)
	}
	if q := histQuantile(hist, bounds, 1); !math.IsInf(q, 1) {
		t.Errorf("p100 = %v, want +Inf", q)
	}
	if q := histQuantile([]int64{0, 0, 0, 0}, bounds, 0.5); !math.IsNaN(q) {
		t.Errorf("empty = %v, want NaN", q)
	}
}

func TestCurrentLeader(t *testing.T) {
	ev := func(kind, id string) pool.Event { return pool.Event{Event: kind, Identity: id} }
	events := []pool.Event{ev(pool.StartedLeading, "a"), ev(pool.NewLeader, "b"), ev(pool.StoppedLeading, "a"), ev(pool.StartedLeading, "b")}
	if l := currentLeader(events); l != "b" {
		t.Errorf("leader = %q, want b", l)
	}
	if l := currentLeader(append(events, pool.Event{Event: pool.Signalled, Identity: "b", Signal: "killed"})); l != "" {
		t.Errorf("leader after kill = %q, want none", l)
	}
}

// TestRender renders a report and a plot from made-up results: every table
// and verdict, without a control plane.
func TestRender(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	procs := func(rss int64) []procStat {
		var ps []procStat
		for i := range 10 {
			ps = append(ps, procStat{Identity: "x", Leader: i == 0, RSS: rss << 20, RSSAnon: (rss / 2) << 20, CPU: 0.001})
		}
		return ps
	}
	rates := func(leaderGets, followerGets float64, rss int64) *rateSet {
		w := func(n int, gets float64) rateWindow {
			return rateWindow{Pool: n, Window: window{Elapsed: time.Minute, ByVerb: map[string]float64{"PUT": 30, "GET": gets}}}
		}
		big := w(10, leaderGets+9*followerGets)
		big.Procs = procs(rss)
		return &rateSet{Windows: []rateWindow{w(1, leaderGets), w(3, leaderGets+2*followerGets), big}}
	}
	r := &results{
		Start: time.Now(), End: time.Now().Add(time.Minute), Command: "hack/bench.sh", Plan: fullPlan,
		Ran: map[string]bool{"trials": true, "rates": true, "scale": true},
		Contenders: []contender{
			{Key: "ours-poll", Label: "ours, polling", Kind: pool.Go, Release: true},
			{Key: "ours-watch", Label: "ours, watching", Kind: pool.Go, Release: true, Args: []string{"--watch"}},
			{Key: "python", Label: "Python client", Kind: pool.Python},
			{Key: "client-go", Label: "client-go", Kind: pool.Go, Release: true, Lease: true},
		},
		Fast: map[string]*trialSet{
			"ours-watch": {Timing: fastTiming, Handover: ms(8, 9, 12), Failover: ms(3500, 3900), PastExpiry: ms(9, 150)},
			"python":     {Timing: fastTiming, Handover: ms(3600), Failover: ms(3700), PastExpiry: ms(100), Overlap: "pool: two leaders at once:\na and b"},
		},
		Defaults: map[string]*trialSet{"ours-watch": {Timing: defaultTiming, Failover: ms(14000), PastExpiry: ms(10)}},
		Rates: map[string]*rateSet{
			"ours-poll": rates(0, 30, 25), "ours-watch": rates(0, 0, 26), "python": rates(30, 30, 54), "client-go": rates(0, 19, 23),
		},
		Baseline: []window{{Elapsed: time.Minute, ByVerb: map[string]float64{"PUT": 6}}},
		Scale: []*scaleResult{{N: 1000, Timing: defaultTiming,
			Leader:   scaleWindow{Window: window{Elapsed: time.Minute, ByVerb: map[string]float64{"PUT": 30000}}, Leading: 1000, RSS: 50 << 20, CPU: 0.18, RenewP50: 10, RenewP99: math.Inf(1)},
			Follower: scaleWindow{Window: window{Elapsed: time.Minute, ByVerb: map[string]float64{"PUT": 30010}}, Following: 1000, RSS: 45 << 20, CPU: 0.06, RenewP50: math.NaN()},
			Both:     scaleWindow{Window: window{Elapsed: time.Minute, ByVerb: map[string]float64{"PUT": 30010}}, Leading: 1000, RSS: 51 << 20, CPU: 0.17, RenewP50: 20, RenewP99: 200},
		}},
		Codec:    []string{"BenchmarkEncodePython-2 1 452 ns/op"},
		Problems: []string{"something"},
		PNG:      "docs/bench/handover.png",
	}
	md := renderReport(r)
	for _, want := range []string{
		"| handover after release under 100 ms at the median (ours, watching) | median 9 ms over 3 trials at 4s/3s/1s | **MET** |",
		"worst 150 ms, median 10 ms, over 3 failovers | **MISSED** |",
		"(ours, watching) | 24.0 req/min vs Python's 324.0 (a fifth: 64.8) | **MET** |",
		"(ours, polling) | 294.0 req/min vs Python's 324.0 (a fifth: 64.8) | **MISSED** |",
		"25.0 MB vs client-go's 23.0 MB",
		"| 50.0 MB (the follower process: 45.0 MB) | **MET** |",
		"| 18.0 % of a core (the follower process: 6.0 %) | **MISSED** |",
		"**YES** (see Problems)",
		"BenchmarkEncodePython-2",
		"![Handover and failover per contender](docs/bench/handover.png)",
		"Phases left out of this run (`-only`): codec, defaults.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	png := filepath.Join(t.TempDir(), "plot.png")
	if err := writePlot(png, r); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Fatalf("plot: %v, %v", fi, err)
	}
}
