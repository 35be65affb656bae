// Command bench measures this library side by side with the real Python
// client and client-go's LeaderElector, against a real kube-apiserver and
// etcd it starts on loopback, and writes BENCHMARKS.md at the repository root
// and the plot docs/bench/handover.png. See bench/README.md for what each
// figure is and how it is measured.
//
//	hack/bench.sh [-quick]                 # builds what is missing, then runs this
//	cd bench && go run ./cmd/bench [-quick] [-out FILE] [-png FILE]
//
// The full run takes about 22 minutes on 2 cores; -quick, for development
// and CI smoke, about 3 minutes with fewer trials and shorter windows.
// -only and -contenders restrict a development run; the report then says
// what was left out. The exit status is 1 if any phase failed; the report
// is written either way and names the failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
)

// plan is how much of everything a run measures.
type plan struct {
	FastFailover, FastHandover int // trials at 4s/3s/1s per contender
	DefaultFailover            int // trials at 15s/10s/2s per contender
	RatePools                  []int
	RateWindow                 time.Duration
	ScaleSizes                 []int
	ScaleWindow                time.Duration
	Timeout                    time.Duration
}

var (
	fullPlan = plan{
		FastFailover: 8, FastHandover: 8, DefaultFailover: 3,
		RatePools: []int{1, 3, 10}, RateWindow: 40 * time.Second,
		ScaleSizes: []int{100, 300, 1000}, ScaleWindow: 30 * time.Second,
		Timeout: 35 * time.Minute,
	}
	quickPlan = plan{
		FastFailover: 1, FastHandover: 1, DefaultFailover: 0,
		RatePools: []int{1, 3, 10}, RateWindow: 6 * time.Second,
		ScaleSizes: []int{100}, ScaleWindow: 6 * time.Second,
		Timeout: 8 * time.Minute,
	}
)

// contender is one implementation under test, run as processes speaking the
// JSON-lines contract of examples/candidate.
type contender struct {
	Key, Label string
	Kind       pool.Kind
	Binary     string   // the Go binary; "" for the pool's examples/candidate
	Args       []string // extra flags
	Release    bool     // --release-on-cancel
	Lease      bool     // the lock is a coordination.k8s.io Lease, not a ConfigMap
}

// ourArgs adds -v to the flags of our candidates when asked to.
func (c contender) ourArgs(v int) []string {
	if v == 0 || c.Kind != pool.Go || c.Binary != "" {
		return c.Args
	}
	return append(slices.Clone(c.Args), "-v", fmt.Sprint(v))
}

var phases = []string{"codec", "trials", "defaults", "rates", "scale"}

type bench struct {
	quick      bool
	plan       plan
	root       string
	work       string
	cs         kubernetes.Interface
	kubeconfig string
	base       *pool.Pool
	scaleBin   string
	candLog    io.Writer
	contenders []contender
	candidateV int

	mu       sync.Mutex
	problems []string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// problem notes something the report must show.
func (b *bench) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.logf("PROBLEM: %s", msg)
	b.mu.Lock()
	b.problems = append(b.problems, msg)
	b.mu.Unlock()
}

func (b *bench) namespace(ctx context.Context, prefix string) (string, error) {
	ns, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-" + prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("creating a namespace: %w", err)
	}
	return ns.Name, nil
}

func (b *bench) pool(c contender) *pool.Pool {
	p := b.base.Fresh()
	if c.Binary != "" {
		p.GoBinary = c.Binary
	}
	p.Stderr = b.candLog
	return p
}

func (b *bench) spec(c contender, id, ns, name string, t timing) pool.Spec {
	return pool.Spec{
		Kind: c.Kind, Identity: id, Namespace: ns, Name: name, Kubeconfig: b.kubeconfig,
		LeaseDuration: t.Lease, RenewDeadline: t.Renew, RetryPeriod: t.Retry,
		ReleaseOnCancel: c.Release, Args: c.ourArgs(b.candidateV),
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx))
}

func run(ctx context.Context) int {
	quick := flag.Bool("quick", false, "a short run for development and CI smoke (about 3 minutes)")
	out := flag.String("out", "", "report file (default: BENCHMARKS.md at the repository root)")
	png := flag.String("png", "", "plot file (default: docs/bench/handover.png at the repository root)")
	only := flag.String("only", strings.Join(phases, ","), "phases to run, for development: "+strings.Join(phases, ","))
	onlyContenders := flag.String("contenders", "", "contenders to run, for development: ours-poll,ours-watch,python,client-go (default all)")
	verbose := flag.Bool("v", false, "copy the candidates' logs to stderr")
	candidateV := flag.Int("candidate-v", 0, "log verbosity of our Go candidates, for debugging")
	scaleSizes := flag.String("scale", "", "numbers of elections for the scale phase, for development, such as 100,1000 (default: the plan's)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: unexpected arguments:", flag.Args())
		return 2
	}
	b := &bench{quick: *quick, plan: fullPlan, candidateV: *candidateV}
	if *quick {
		b.plan = quickPlan
	}
	if *scaleSizes != "" {
		b.plan.ScaleSizes = nil
		for _, f := range strings.Split(*scaleSizes, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bench: -scale %q: want numbers of elections such as 100,1000\n", *scaleSizes)
				return 2
			}
			b.plan.ScaleSizes = append(b.plan.ScaleSizes, n)
		}
	}
	selected := map[string]bool{}
	for _, ph := range strings.Split(*only, ",") {
		if ph = strings.TrimSpace(ph); ph == "" {
			continue
		}
		if !slices.Contains(phases, ph) {
			fmt.Fprintf(os.Stderr, "bench: unknown phase %q (phases: %s)\n", ph, strings.Join(phases, ","))
			return 2
		}
		selected[ph] = true
	}
	res, err := b.runAll(ctx, selected, *onlyContenders, *out, *png, *verbose)
	if err != nil {
		b.logf("FAILED: %v", err)
		return 1
	}
	if len(res.Failed) > 0 {
		b.logf("FAILED phases: %s (the report names them)", strings.Join(res.Failed, "; "))
		return 1
	}
	return 0
}

// results is everything the report shows.
type results struct {
	Start, End time.Time
	Command    string
	Quick      bool
	Plan       plan
	Machine    machine
	LoadEnd    string
	Versions   versions
	Contenders []contender
	Ran        map[string]bool // phases run

	Fast, Defaults map[string]*trialSet // by contender key
	Rates          map[string]*rateSet
	Baseline       []window
	Scale          []*scaleResult
	Codec          []string

	PhaseTimes []phaseTime
	Failed     []string
	Problems   []string
	PNG        string // path relative to the report
}

type phaseTime struct {
	Name string
	Took time.Duration
}

func (b *bench) runAll(ctx context.Context, selected map[string]bool, onlyContenders, out, png string, verbose bool) (*results, error) {
	root, err := pool.RepoRoot()
	if err != nil {
		return nil, err
	}
	b.root = root
	if out == "" {
		out = filepath.Join(root, "BENCHMARKS.md")
	}
	if png == "" {
		png = filepath.Join(root, "docs", "bench", "handover.png")
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, err
	}
	if png, err = filepath.Abs(png); err != nil {
		return nil, err
	}
	interrupted := ctx
	ctx, cancel := context.WithTimeout(ctx, b.plan.Timeout)
	defer cancel()

	res := &results{
		Start: time.Now(), Quick: b.quick, Plan: b.plan, Ran: selected,
		Fast: map[string]*trialSet{}, Defaults: map[string]*trialSet{}, Rates: map[string]*rateSet{},
		Command: os.Getenv("BENCH_COMMAND"),
	}
	if res.Command == "" {
		res.Command = "cd bench && go run ./cmd/bench " + strings.Join(os.Args[1:], " ")
	}
	res.Machine = readMachine()
	binDir := os.Getenv("KUBE_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(root, ".cache", "kube", "bin")
	}
	res.Versions = readVersions(ctx, root, binDir)
	if err := pool.PythonAvailable(); err != nil {
		return nil, err
	}

	b.work, err = os.MkdirTemp("", "bench-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(b.work, "candidates.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	b.candLog = logFile
	if verbose {
		b.candLog = io.MultiWriter(logFile, os.Stderr)
	}
	b.logf("work dir %s (candidate logs in %s)", b.work, logPath)
	keepWork := false
	defer func() {
		if !keepWork {
			os.RemoveAll(b.work)
		}
	}()

	phase := func(name string, f func() error) {
		if !selected[name] {
			return
		}
		start := time.Now()
		b.logf("phase %s", name)
		err := f()
		res.PhaseTimes = append(res.PhaseTimes, phaseTime{name, time.Since(start)})
		if err != nil {
			keepWork = true
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", name, err))
			b.logf("phase %s FAILED after %v: %v (logs kept in %s)", name, time.Since(start).Round(time.Second), err, b.work)
			return
		}
		b.logf("phase %s done in %v", name, time.Since(start).Round(time.Second))
	}

	// The codec benchmark first, while nothing else of ours runs.
	phase("codec", func() error {
		res.Codec, err = runCodec(ctx, root)
		return err
	})

	// Builds and the control plane are set-up, timed but not a phase.
	setUp := time.Now()
	b.logf("building candidates and starting the control plane")
	if b.base, err = pool.New(ctx, b.work); err != nil {
		return nil, err
	}
	scaleBin, clientgoBin, err := buildBench(ctx, filepath.Join(root, "bench"), b.work)
	if err != nil {
		return nil, err
	}
	b.scaleBin = scaleBin
	cpLog, err := os.Create(filepath.Join(b.work, "controlplane.log"))
	if err != nil {
		return nil, err
	}
	defer cpLog.Close()
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: binDir, Log: cpLog})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	b.kubeconfig = cp.KubeconfigPath()
	cfg := cp.RESTConfig()
	cfg.QPS = -1
	if b.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	res.PhaseTimes = append(res.PhaseTimes, phaseTime{"set-up (builds, control plane)", time.Since(setUp)})

	all := []contender{
		{Key: "ours-poll", Label: "ours, polling", Kind: pool.Go, Release: true},
		{Key: "ours-watch", Label: "ours, watching", Kind: pool.Go, Release: true, Args: []string{"--watch"}},
		{Key: "python", Label: "Python client", Kind: pool.Python},
		{Key: "client-go", Label: "client-go", Kind: pool.Go, Binary: clientgoBin, Release: true, Lease: true},
	}
	for _, c := range all {
		if onlyContenders == "" || slices.Contains(strings.Split(onlyContenders, ","), c.Key) {
			b.contenders = append(b.contenders, c)
		}
	}
	if len(b.contenders) == 0 {
		return nil, errors.New("-contenders selects none of ours-poll,ours-watch,python,client-go")
	}
	res.Contenders = b.contenders

	phase("trials", func() error {
		var errs []error
		for _, c := range b.contenders {
			ts, err := b.runTrials(ctx, c, fastTiming, b.plan.FastFailover, b.plan.FastHandover)
			res.Fast[c.Key] = ts
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if b.plan.DefaultFailover > 0 {
		phase("defaults", func() error {
			var errs []error
			for _, c := range b.contenders {
				ts, err := b.runTrials(ctx, c, defaultTiming, b.plan.DefaultFailover, 0)
				res.Defaults[c.Key] = ts
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
	}
	phase("rates", func() error {
		w, err := b.measureBaseline(ctx)
		if err != nil {
			return err
		}
		res.Baseline = append(res.Baseline, w)
		var errs []error
		for _, c := range b.contenders {
			rs, err := b.runRates(ctx, c)
			res.Rates[c.Key] = rs
			errs = append(errs, err)
		}
		if w, err := b.measureBaseline(ctx); err == nil {
			res.Baseline = append(res.Baseline, w)
		} else {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	phase("scale", func() error {
		for _, n := range b.plan.ScaleSizes {
			sr, err := b.runScale(ctx, n, defaultTiming)
			res.Scale = append(res.Scale, sr)
			if err != nil {
				return fmt.Errorf("%d elections: %w", n, err)
			}
		}
		return nil
	})

	if interrupted.Err() != nil {
		return res, errors.New("interrupted: no report written")
	}
	if ctx.Err() != nil {
		b.problem("the run hit its time limit of %v; the phases still running failed", b.plan.Timeout)
	}
	res.End = time.Now()
	res.LoadEnd = loadAvg()
	b.mu.Lock()
	res.Problems = slices.Clone(b.problems)
	b.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(png), 0o755); err != nil {
		return res, err
	}
	if err := writePlot(png, res); err != nil {
		return res, fmt.Errorf("plot: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(out), png)
	if err != nil {
		rel = png
	}
	res.PNG = filepath.ToSlash(rel)
	if err := os.WriteFile(out, []byte(renderReport(res)), 0o644); err != nil {
		return res, err
	}
	b.logf("wrote %s and %s in %v", out, png, res.End.Sub(res.Start).Round(time.Second))
	return res, nil
}
