// Package pool runs election candidates as separate processes — Go ones
// (examples/candidate) and Python ones (examples/python/candidate.py over the
// real Python client) — records the JSON events each prints, and judges the
// election from them: who led when, and whether two ever led at once.
//
// The tests, the demo and the benchmarks all use it, so that every claim
// about a pool is judged from every candidate's own report.
package pool

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Kind is the implementation a candidate runs.
type Kind string

const (
	Go     Kind = "go"
	Python Kind = "python"
)

// PythonInterpreter is the system Python that Debian's python3-kubernetes
// installs into.
const PythonInterpreter = "/usr/bin/python3"

// Event kinds, as candidates print them.
const (
	StartedLeading = "started_leading"
	StoppedLeading = "stopped_leading"
	NewLeader      = "new_leader"
	// Exited and Signalled are recorded by the pool, not printed.
	Exited    = "exited"
	Signalled = "signalled"
)

// Event is one line a candidate printed, or an action of the pool on it.
type Event struct {
	Event    string    `json:"event"`
	Identity string    `json:"identity"`
	Leader   string    `json:"leader,omitempty"`
	Time     time.Time `json:"time"`             // the candidate's own clock (same machine)
	Signal   string    `json:"signal,omitempty"` // for Signalled
	Code     int       `json:"code,omitempty"`   // for Exited
}

// Spec describes one candidate.
type Spec struct {
	Kind            Kind
	Identity        string
	Namespace, Name string // the lock
	Kubeconfig      string
	LeaseDuration   time.Duration
	RenewDeadline   time.Duration
	RetryPeriod     time.Duration
	ReleaseOnCancel bool     // Go only: Python never releases
	Args            []string // extra flags
	Env             []string // extra environment
}

// Pool is a set of candidate processes and the events they reported.
type Pool struct {
	// GoBinary is the built examples/candidate; PythonScript is
	// examples/python/candidate.py.
	GoBinary, PythonScript string
	// Stderr receives every candidate's log, each line prefixed with its
	// identity; nil discards them.
	Stderr io.Writer

	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every event
	procs   map[string]*Candidate
	wg      sync.WaitGroup
}

// Candidate is one running process.
type Candidate struct {
	Spec Spec
	cmd  *exec.Cmd
	done chan struct{}
	code int
}

// RepoRoot finds the module root by walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "examples", "candidate", "main.go")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pool: repository root (with examples/candidate) not found above the working directory")
		}
		dir = parent
	}
}

// New builds examples/candidate into dir and returns a pool that runs it and
// the Python candidate script.
func New(ctx context.Context, dir string) (*Pool, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "candidate")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/candidate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pool: building examples/candidate: %w\n%s", err, out)
	}
	return &Pool{
		GoBinary:     bin,
		PythonScript: filepath.Join(root, "examples", "python", "candidate.py"),
		changed:      make(chan struct{}),
		procs:        map[string]*Candidate{},
	}, nil
}

// PythonAvailable reports whether the real Python client can be imported.
func PythonAvailable() error {
	out, err := exec.Command(PythonInterpreter, "-c", "import kubernetes.leaderelection").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pool: %s cannot import kubernetes.leaderelection (apt-get install python3-kubernetes): %w: %s", PythonInterpreter, err, out)
	}
	return nil
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// Start runs a candidate. Its identity must be unique in the pool.
func (p *Pool) Start(spec Spec) (*Candidate, error) {
	var cmd *exec.Cmd
	common := []string{"--namespace", spec.Namespace, "--name", spec.Name, "--identity", spec.Identity, "--kubeconfig", spec.Kubeconfig}
	switch spec.Kind {
	case Go:
		args := append(common,
			"--lease-duration", spec.LeaseDuration.String(),
			"--renew-deadline", spec.RenewDeadline.String(),
			"--retry-period", spec.RetryPeriod.String())
		if spec.ReleaseOnCancel {
			args = append(args, "--release-on-cancel")
		}
		cmd = exec.Command(p.GoBinary, append(args, spec.Args...)...)
	case Python:
		args := append([]string{p.PythonScript}, common...)
		args = append(args,
			"--lease-duration", seconds(spec.LeaseDuration),
			"--renew-deadline", seconds(spec.RenewDeadline),
			"--retry-period", seconds(spec.RetryPeriod))
		cmd = exec.Command(PythonInterpreter, append(args, spec.Args...)...)
	default:
		return nil, fmt.Errorf("pool: unknown kind %q", spec.Kind)
	}
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = procAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}

	p.mu.Lock()
	if _, dup := p.procs[spec.Identity]; dup {
		p.mu.Unlock()
		return nil, fmt.Errorf("pool: identity %q is already running", spec.Identity)
	}
	c := &Candidate{Spec: spec, cmd: cmd, done: make(chan struct{})}
	p.procs[spec.Identity] = c
	p.mu.Unlock()

	if err := cmd.Start(); err != nil {
		p.mu.Lock()
		delete(p.procs, spec.Identity)
		p.mu.Unlock()
		return nil, fmt.Errorf("pool: starting %s candidate %q: %w", spec.Kind, spec.Identity, err)
	}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); p.readEvents(spec.Identity, stdout) }()
	go func() { defer pipes.Done(); p.copyLog(spec.Identity, stderr) }()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		pipes.Wait()
		err := cmd.Wait()
		c.code = exitCode(err)
		p.record(Event{Event: Exited, Identity: spec.Identity, Time: time.Now(), Code: c.code})
		p.mu.Lock()
		delete(p.procs, spec.Identity)
		p.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func (p *Pool) readEvents(identity string, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			p.logLine(identity, "unparsable event: "+sc.Text())
			continue
		}
		p.record(ev)
	}
}

func (p *Pool) copyLog(identity string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p.logLine(identity, sc.Text())
	}
}

func (p *Pool) logLine(identity, line string) {
	if p.Stderr != nil {
		p.mu.Lock()
		fmt.Fprintf(p.Stderr, "[%s] %s\n", identity, line)
		p.mu.Unlock()
	}
}

func (p *Pool) record(ev Event) {
	p.mu.Lock()
	p.events = append(p.events, ev)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Events returns every event so far, in the order the pool received them.
func (p *Pool) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// WaitFor waits until an event received at index from or later satisfies
// match, and returns it with its index.
func (p *Pool) WaitFor(ctx context.Context, from int, match func(Event) bool) (Event, int, error) {
	for {
		p.mu.Lock()
		for i := from; i < len(p.events); i++ {
			if match(p.events[i]) {
				ev := p.events[i]
				p.mu.Unlock()
				return ev, i, nil
			}
		}
		from = max(from, len(p.events))
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, -1, fmt.Errorf("pool: waiting for an event: %w", ctx.Err())
		case <-changed:
		}
	}
}

// WaitForLeader waits for a started_leading event at index from or later.
func (p *Pool) WaitForLeader(ctx context.Context, from int) (Event, int, error) {
	return p.WaitFor(ctx, from, func(ev Event) bool { return ev.Event == StartedLeading })
}

// Signal sends sig to the candidate and records it, so that the judge knows
// when a killed or frozen leader stopped working.
func (c *Candidate) signal(p *Pool, sig syscall.Signal) error {
	p.record(Event{Event: Signalled, Identity: c.Spec.Identity, Time: time.Now(), Signal: sig.String()})
	if err := c.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("pool: signalling %q: %w", c.Spec.Identity, err)
	}
	return nil
}

// Kill sends SIGKILL: a crash. Terminate sends SIGTERM: a graceful stop.
// Freeze and Thaw send SIGSTOP and SIGCONT.
func (p *Pool) Kill(c *Candidate) error      { return c.signal(p, syscall.SIGKILL) }
func (p *Pool) Terminate(c *Candidate) error { return c.signal(p, syscall.SIGTERM) }
func (p *Pool) Freeze(c *Candidate) error    { return c.signal(p, syscall.SIGSTOP) }
func (p *Pool) Thaw(c *Candidate) error      { return c.signal(p, syscall.SIGCONT) }

// Wait waits for the candidate to exit and returns its exit code (128+signal
// when a signal ended it).
func (c *Candidate) Wait(ctx context.Context) (int, error) {
	select {
	case <-c.done:
		return c.code, nil
	case <-ctx.Done():
		return -1, fmt.Errorf("pool: waiting for %q to exit: %w", c.Spec.Identity, ctx.Err())
	}
}

// Running returns the candidate with that identity, if it is running.
func (p *Pool) Running(identity string) (*Candidate, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.procs[identity]
	return c, ok
}

// Close kills every candidate still running and waits for them.
func (p *Pool) Close() {
	p.mu.Lock()
	procs := make([]*Candidate, 0, len(p.procs))
	for _, c := range p.procs {
		procs = append(procs, c)
	}
	p.mu.Unlock()
	for _, c := range procs {
		_ = c.cmd.Process.Kill()
	}
	p.wg.Wait()
}
