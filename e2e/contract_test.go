package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepy/leaderelection/record"
)

// blackHole is a TCP server that accepts connections and never answers: an
// API server that does not exist, except that it counts who tried.
type blackHole struct {
	ln    net.Listener
	conns atomic.Int64
}

func newBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	var open []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	return b
}

// kubeconfig writes a kubeconfig for the black hole.
func (b *blackHole) kubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://%s
    insecure-skip-tls-verify: true
users:
- name: someone
  user:
    token: not-a-token
contexts:
- name: nowhere
  context: {cluster: nowhere, user: someone, namespace: default}
current-context: nowhere
`, b.ln.Addr())
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCandidateRejectsInvalidFlags: invalid flags or configuration make the
// candidate exit 2 at once, saying what is wrong on stderr and printing
// nothing on stdout, before any API call: its kubeconfig points at a server
// that never answers, which nobody may even connect to.
func TestCandidateRejectsInvalidFlags(t *testing.T) {
	t.Parallel()
	bin := candidateBinary(t).GoBinary
	hole := newBlackHole(t)
	kubeconfig := hole.kubeconfig(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string // on stderr
	}{
		{"lease not above renew deadline", []string{"--name", "lock", "--lease-duration", "1s", "--renew-deadline", "2s"},
			[]string{"invalid configuration", "LeaseDuration (1s) must be greater than RenewDeadline (2s)"}},
		{"no name", []string{"--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s"},
			[]string{"--name is required"}},
		{"sub-second retry period", []string{"--name", "lock", "--retry-period", "500ms"},
			[]string{"RetryPeriod is 500ms, must be at least 1s"}},
		{"renew deadline within jittered retry", []string{"--name", "lock", "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "2500ms"},
			[]string{"RenewDeadline (3s) must be greater than RetryPeriod × JitterFactor"}},
		{"empty identity", []string{"--name", "lock", "--identity", ""},
			[]string{"Lock.Identity is empty"}},
		{"bad namespace", []string{"--name", "lock", "--namespace", "Bad_NS"},
			[]string{`namespace "Bad_NS"`}},
		{"bad lock name", []string{"--name", "no/slash"},
			[]string{`name "no/slash"`}},
		{"bad dialect", []string{"--name", "lock", "--dialect", "yaml"},
			[]string{`--dialect "yaml"`}},
		{"unknown flag", []string{"--name", "lock", "--bogus"},
			[]string{"flag provided but not defined: -bogus"}},
		{"stray argument", []string{"--name", "lock", "extra"},
			[]string{"unexpected arguments"}},
		{"bad healthz address", []string{"--name", "lock", "--healthz-addr", "bogus"},
			[]string{`--healthz-addr "bogus"`}},
		{"bad healthz address with --watch", []string{"--name", "lock", "--watch", "--healthz-addr", "bogus"},
			[]string{`--healthz-addr "bogus"`}},
		{"every problem at once", []string{"--name", "lock", "--namespace", "Bad_NS", "--identity", "", "--lease-duration", "1s", "--renew-deadline", "2s"},
			[]string{`namespace "Bad_NS"`, "Lock.Identity is empty", "LeaseDuration (1s)", "RenewDeadline (2s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hole.conns.Load()
			code, stdout, stderr, took := runToExit(t, bin, append([]string{"--kubeconfig", kubeconfig}, tc.args...))
			checkExit2(t, code, stdout, stderr, took, tc.want)
			if n := hole.conns.Load() - before; n != 0 {
				t.Errorf("connected %d times to the API server before exiting", n)
			}
		})
	}
	t.Run("missing kubeconfig file", func(t *testing.T) {
		code, stdout, stderr, took := runToExit(t, bin, []string{"--kubeconfig", filepath.Join(t.TempDir(), "absent"), "--name", "lock"})
		checkExit2(t, code, stdout, stderr, took, []string{"loading kubeconfig"})
	})
}

// runToExit runs the candidate and returns its exit code, output and how
// long it ran. A candidate still running after 10 s is killed and fails t.
func runToExit(t *testing.T, bin string, args []string) (code int, stdout, stderr string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("candidate %q still running after %v: it did not reject its flags at once\nstderr:\n%s", args, took, errOut.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String(), took
}

func checkExit2(t *testing.T, code int, stdout, stderr string, took time.Duration, want []string) {
	t.Helper()
	if code != 2 {
		t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr)
	}
	// Process start-up is milliseconds; any API attempt against the
	// black hole would hang for far longer.
	if took > 3*time.Second {
		t.Errorf("took %v to exit, want at once", took)
	}
	if stdout != "" {
		t.Errorf("printed on stdout: %q, want nothing", stdout)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
}

// process is a candidate run directly, its stdout and stderr kept line by
// line.
type process struct {
	identity string
	cmd      *exec.Cmd
	done     chan struct{}
	code     int

	mu      sync.Mutex
	stdout  []string
	stderr  []string
	changed chan struct{}
}

func startProcess(t *testing.T, bin, identity string, args ...string) *process {
	t.Helper()
	p := &process{identity: identity, done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"--identity", identity}, args...)...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pipes sync.WaitGroup
	pipes.Go(func() { p.collect(stdout, &p.stdout) })
	pipes.Go(func() { p.collect(stderr, &p.stderr) })
	go func() {
		pipes.Wait()
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", identity, strings.Join(p.stdout, "\n"), identity, strings.Join(p.stderr, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// collect keeps every line read from r; a last line without a newline is
// kept with a marker, since the contract is whole lines.
func (p *process) collect(r io.Reader, into *[]string) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if !strings.HasSuffix(line, "\n") {
				line += "⟨no newline⟩"
			}
			p.mu.Lock()
			*into = append(*into, strings.TrimSuffix(line, "\n"))
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// waitLine waits up to within for a line of stdout (or stderr) at index
// from or later containing text, and returns the index after it.
func (p *process) waitLine(t *testing.T, stderr bool, from int, text string, within time.Duration) int {
	t.Helper()
	timeout := time.After(within)
	for {
		p.mu.Lock()
		lines := p.stdout
		if stderr {
			lines = p.stderr
		}
		for i := from; i < len(lines); i++ {
			if strings.Contains(lines[i], text) {
				p.mu.Unlock()
				return i + 1
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%s printed no line with %q within %v", p.identity, text, within)
		}
	}
}

func (p *process) terminate(t *testing.T, within time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("%s still running %v after SIGTERM", p.identity, within)
		return -1
	}
}

func (p *process) stderrLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stderr)
}

func (p *process) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.stdout)
}

// TestCandidateOutputAndSignals: on a real API server, the candidate prints
// on stdout only JSON lines with the documented fields — event, identity,
// time, and leader for new_leader alone — and exits 0 on SIGTERM, as leader
// (releasing the lock with --release-on-cancel) and as follower.
func TestCandidateOutputAndSignals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin := e.pool.GoBinary
	args := []string{"--kubeconfig", cp.KubeconfigPath(), "--namespace", e.ns, "--name", "contract",
		"--lease-duration", leaseDuration.String(), "--renew-deadline", renewDeadline.String(), "--retry-period", retryPeriod.String(), "-v", "1"}
	started := time.Now()

	leader := startProcess(t, bin, "leader", append(args, "--release-on-cancel")...)
	leader.waitLine(t, false, 0, `"started_leading"`, 20*time.Second)
	follower := startProcess(t, bin, "follower", args...)
	follower.waitLine(t, false, 0, `"new_leader"`, 10*time.Second)

	if code := follower.terminate(t, 5*time.Second); code != 0 {
		t.Errorf("the follower exited %d after SIGTERM, want 0", code)
	}
	// Between two renewals, so that the release is not lost with a
	// renewal on the wire (see TestFailoverAndHandover).
	leader.waitLine(t, true, leader.stderrLen(), "renewed lease", 5*time.Second)
	if code := leader.terminate(t, renewDeadline+2*time.Second); code != 0 {
		t.Errorf("the leader exited %d after SIGTERM, want 0", code)
	}
	ended := time.Now()

	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(e.ctx, "contract", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.Decode(cm.Annotations[record.AnnotationKey]); !errors.Is(err, record.ErrNoRecord) {
		t.Errorf("after SIGTERM with --release-on-cancel the record is %s, want released", cm.Annotations[record.AnnotationKey])
	}

	leaderEvents := checkEventLines(t, leader, started, ended)
	if !slices.Equal(sortedCopy(leaderEvents), []string{"new_leader leader", "started_leading", "stopped_leading"}) ||
		leaderEvents[len(leaderEvents)-1] != "stopped_leading" {
		t.Errorf("the leader printed %q; want new_leader (itself) and started_leading, then stopped_leading", leaderEvents)
	}
	if followerEvents := checkEventLines(t, follower, started, ended); !slices.Equal(followerEvents, []string{"new_leader leader"}) {
		t.Errorf("the follower printed %q; want new_leader (the leader) alone", followerEvents)
	}
}

// checkEventLines checks every stdout line of p against the contract and
// returns the events, "new_leader" followed by its leader.
func checkEventLines(t *testing.T, p *process, after, before time.Time) []string {
	t.Helper()
	var events []string
	for _, line := range p.lines() {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Errorf("%s printed a line on stdout that is not a JSON object: %q", p.identity, line)
			continue
		}
		keys := slices.Sorted(maps.Keys(obj))
		str := func(k string) string { s, _ := obj[k].(string); return s }
		event := str("event")
		wantKeys := []string{"event", "identity", "time"}
		if event == "new_leader" {
			wantKeys = []string{"event", "identity", "leader", "time"}
		}
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("%s: line %s has fields %v, want %v", p.identity, line, keys, wantKeys)
		}
		for _, k := range keys {
			if _, ok := obj[k].(string); !ok {
				t.Errorf("%s: line %s: %s is not a string", p.identity, line, k)
			}
		}
		switch event {
		case "started_leading", "stopped_leading":
			events = append(events, event)
		case "new_leader":
			if str("leader") == "" {
				t.Errorf("%s: line %s names no leader", p.identity, line)
			}
			events = append(events, event+" "+str("leader"))
		default:
			t.Errorf("%s: line %s: unknown event %q", p.identity, line, event)
		}
		if str("identity") != p.identity {
			t.Errorf("%s: line %s: identity %q, want its own", p.identity, line, str("identity"))
		}
		at, err := time.Parse(time.RFC3339Nano, str("time"))
		if err != nil {
			t.Errorf("%s: line %s: time is not RFC 3339: %v", p.identity, line, err)
		} else if at.Before(after.Add(-time.Second)) || at.After(before.Add(time.Second)) {
			t.Errorf("%s: line %s: time %s is outside the run (%s – %s)", p.identity, line, at, after, before)
		}
	}
	return events
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }
