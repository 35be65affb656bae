package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// scaleStatus mirrors the status line of cmd/scale.
type scaleStatus struct {
	Time        time.Time        `json:"time"`
	Count       int              `json:"count"`
	Leading     int              `json:"leading"`
	Following   int              `json:"following"`
	Goroutines  int              `json:"goroutines"`
	HeapInuse   uint64           `json:"heap_inuse"`
	Renewals    int64            `json:"renewals"`
	RenewErrors int64            `json:"renew_errors"`
	Lost        int64            `json:"lost"`
	Acquired    int64            `json:"acquired"`
	APIErrors   map[string]int64 `json:"api_errors"`
	RenewHist   []int64          `json:"renew_hist"`
	BucketsMs   []float64        `json:"buckets_ms"`
}

// scaleProc is a running cmd/scale.
type scaleProc struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu      sync.Mutex
	last    scaleStatus
	changed chan struct{}
}

func (b *bench) startScale(ns, identity string, n int, t timing) (*scaleProc, error) {
	cmd := exec.Command(b.scaleBin,
		"--kubeconfig", b.kubeconfig, "--namespace", ns, "--count", fmt.Sprint(n), "--identity", identity,
		"--lease-duration", t.Lease.String(), "--renew-deadline", t.Renew.String(), "--retry-period", t.Retry.String())
	cmd.Stderr = b.candLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", b.scaleBin, err)
	}
	sp := &scaleProc{cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			var s scaleStatus
			if json.Unmarshal(sc.Bytes(), &s) != nil {
				continue
			}
			sp.mu.Lock()
			sp.last = s
			close(sp.changed)
			sp.changed = make(chan struct{})
			sp.mu.Unlock()
		}
		_ = cmd.Wait()
		close(sp.done)
	}()
	return sp, nil
}

func (sp *scaleProc) status() scaleStatus {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.last
}

// waitUntil waits for a status satisfying ok; it returns the last status
// either way.
func (sp *scaleProc) waitUntil(ctx context.Context, ok func(scaleStatus) bool) (scaleStatus, error) {
	for {
		sp.mu.Lock()
		s, changed := sp.last, sp.changed
		sp.mu.Unlock()
		if !s.Time.IsZero() && ok(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-sp.done:
			return s, fmt.Errorf("cmd/scale exited (%v)", sp.cmd.ProcessState)
		case <-changed:
		}
	}
}

func (sp *scaleProc) stop() {
	_ = sp.cmd.Process.Kill()
	<-sp.done
}

// scaleWindow is one steady window of the scale benchmark.
type scaleWindow struct {
	Label      string // "leader process" or "+ follower process"
	Window     window
	Leading    int // electors leading at the end of the window (leader process)
	Following  int // electors following at the end (follower process)
	RSS        int64
	CPU        float64 // share of one core
	Goroutines int
	HeapInuse  uint64
	Renewals   int64
	RenewP50   float64 // ms, from the histogram
	RenewP99   float64
	RenewErrs  int64
	Lost       int64
	ServerCPU  float64 // kube-apiserver + etcd, share of one core
}

type scaleResult struct {
	N          int
	Timing     timing
	Overloaded string // why the leader process did not lead all N, "" if it did
	Leader     scaleWindow
	Follower   scaleWindow // the follower process's own figures in the second window
	Both       scaleWindow // the request count with both processes running
	AcquireAll time.Duration
}

// runScale runs N elections in one process (which leads them all), measures
// a steady window, then adds a second process following the same N
// elections and measures again.
func (b *bench) runScale(ctx context.Context, n int, t timing) (*scaleResult, error) {
	res := &scaleResult{N: n, Timing: t}
	ns, err := b.namespace(ctx, fmt.Sprintf("scale-%d", n))
	if err != nil {
		return res, err
	}
	server := append(childPIDs("kube-apiserver"), childPIDs("etcd")...)
	started := time.Now()
	leaderProc, err := b.startScale(ns, "scale-leader", n, t)
	if err != nil {
		return res, err
	}
	defer leaderProc.stop()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second+2*t.Lease+time.Duration(n)*20*time.Millisecond)
	s, err := leaderProc.waitUntil(wctx, func(s scaleStatus) bool { return s.Leading == n })
	cancel()
	res.AcquireAll = time.Since(started)
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Overloaded = fmt.Sprintf("only %d of %d elections led after %v", s.Leading, n, res.AcquireAll.Round(time.Second))
		b.problem("scale %d: %s", n, res.Overloaded)
	}
	b.logf("scale %d: %d leading after %v", n, s.Leading, res.AcquireAll.Round(time.Millisecond))
	// Let the creations and the first renewals settle.
	if !sleep(ctx, 2*t.Retry) {
		return res, ctx.Err()
	}
	res.Leader, err = b.scaleWindow(ctx, "leader process", leaderProc, server)
	if err != nil {
		return res, err
	}

	followerProc, err := b.startScale(ns, "scale-follower", n, t)
	if err != nil {
		return res, err
	}
	defer followerProc.stop()
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second+time.Duration(n)*20*time.Millisecond)
	fs, err := followerProc.waitUntil(wctx, func(s scaleStatus) bool { return s.Following == n })
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		b.problem("scale %d: the follower process followed only %d of %d elections", n, fs.Following, n)
	}
	if !sleep(ctx, 2*t.Retry) {
		return res, ctx.Err()
	}
	before, err := scrapeRequests(ctx, b.cs)
	if err != nil {
		return res, err
	}
	fw, lw := b.beginScaleWindow(followerProc), b.beginScaleWindow(leaderProc)
	srv := newCPUMeter(server...)
	if !sleep(ctx, b.plan.ScaleWindow) {
		return res, ctx.Err()
	}
	after, err := scrapeRequests(ctx, b.cs)
	if err != nil {
		return res, err
	}
	w := diff(before, after)
	serverCPU := sum(srv.seconds()) / w.Elapsed.Seconds()
	res.Follower, err = fw.end("follower process", w, serverCPU)
	if err != nil {
		return res, err
	}
	res.Both, err = lw.end("leader + follower processes", w, serverCPU)
	if err != nil {
		return res, err
	}
	b.logf("scale %d: leader only %.0f req/min, with follower %.0f req/min; follower RSS %.1f MB CPU %.1f%%",
		n, res.Leader.Window.perMinute(), w.perMinute(), mb(res.Follower.RSS), 100*res.Follower.CPU)
	return res, nil
}

// scaleMeter holds the start of a window for one cmd/scale process.
type scaleMeter struct {
	sp    *scaleProc
	cpu   *cpuMeter
	first scaleStatus
}

func (b *bench) beginScaleWindow(sp *scaleProc) *scaleMeter {
	return &scaleMeter{sp: sp, cpu: newCPUMeter(sp.cmd.Process.Pid), first: sp.status()}
}

func (m *scaleMeter) end(label string, w window, serverCPU float64) (scaleWindow, error) {
	last := m.sp.status()
	proc, err := readProc(m.sp.cmd.Process.Pid)
	if err != nil {
		return scaleWindow{}, fmt.Errorf("cmd/scale: %w", err)
	}
	hist := make([]int64, len(last.RenewHist))
	for i := range hist {
		hist[i] = last.RenewHist[i]
		if i < len(m.first.RenewHist) {
			hist[i] -= m.first.RenewHist[i]
		}
	}
	return scaleWindow{
		Label:      label,
		Window:     w,
		Leading:    last.Leading,
		Following:  last.Following,
		RSS:        proc.RSS,
		CPU:        m.cpu.seconds()[0] / w.Elapsed.Seconds(),
		Goroutines: last.Goroutines,
		HeapInuse:  last.HeapInuse,
		Renewals:   last.Renewals - m.first.Renewals,
		RenewP50:   histQuantile(hist, last.BucketsMs, 0.5),
		RenewP99:   histQuantile(hist, last.BucketsMs, 0.99),
		RenewErrs:  last.RenewErrors - m.first.RenewErrors,
		Lost:       last.Lost - m.first.Lost,
		ServerCPU:  serverCPU,
	}, nil
}

func (b *bench) scaleWindow(ctx context.Context, label string, sp *scaleProc, server []int) (scaleWindow, error) {
	before, err := scrapeRequests(ctx, b.cs)
	if err != nil {
		return scaleWindow{}, err
	}
	m := b.beginScaleWindow(sp)
	srv := newCPUMeter(server...)
	if !sleep(ctx, b.plan.ScaleWindow) {
		return scaleWindow{}, ctx.Err()
	}
	after, err := scrapeRequests(ctx, b.cs)
	if err != nil {
		return scaleWindow{}, err
	}
	w := diff(before, after)
	return m.end(label, w, sum(srv.seconds())/w.Elapsed.Seconds())
}

// histQuantile returns the upper bound of the bucket holding quantile q, in
// ms; +Inf for the overflow bucket, NaN without observations.
func histQuantile(hist []int64, bounds []float64, q float64) float64 {
	var total int64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			if i < len(bounds) {
				return bounds[i]
			}
			return math.Inf(1)
		}
	}
	return math.Inf(1)
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// buildScale builds cmd/scale and cmd/clientgo-candidate into dir.
func buildBench(ctx context.Context, benchDir, dir string) (scaleBin, clientgoBin string, err error) {
	scaleBin, clientgoBin = filepath.Join(dir, "scale"), filepath.Join(dir, "clientgo-candidate")
	for pkg, out := range map[string]string{"./cmd/scale": scaleBin, "./cmd/clientgo-candidate": clientgoBin} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = benchDir
		cmd.Env = os.Environ()
		if o, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("building %s: %w\n%s", pkg, err, o)
		}
	}
	return scaleBin, clientgoBin, nil
}
