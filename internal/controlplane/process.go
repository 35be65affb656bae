package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

const (
	// apiserverGrace is how long kube-apiserver may take to exit after
	// SIGTERM; it shuts down its controllers and in-flight requests in about
	// two seconds.
	apiserverGrace = 5 * time.Second
	// etcdGrace is how long etcd may take to exit after SIGTERM. With the
	// apiserver's watches open etcd waits some seven seconds for them to
	// end before it closes them itself. Killing it instead loses nothing:
	// its write-ahead log makes it crash-safe, and without fsync the data is
	// in the page cache either way.
	etcdGrace = time.Second
	// killWait bounds the wait after SIGKILL, which only a process stuck in
	// the kernel survives.
	killWait = 10 * time.Second
	// tailLines is how many output lines of each process error messages
	// show; the cause of a failed start is nearly always among the last.
	tailLines = 20
	// tailLineLen cuts the lines error messages show: etcd logs its whole
	// configuration as one line of some 2,500 bytes.
	tailLineLen = 1000
	// maxLine cuts lines without a newline, so a runaway write cannot grow
	// the buffer without bound.
	maxLine = 4096
)

// process is one running child: etcd or kube-apiserver.
type process struct {
	name  string
	grace time.Duration // between SIGTERM and SIGKILL
	cmd   *exec.Cmd
	out   *output
	done  chan struct{} // closed once the process has exited and been reaped
	err   error         // Wait's result; read only after done is closed
}

// startProcess starts path with args and env. It takes no context because the
// process runs until stop, not until the call that started it ends, which is
// also why this is exec.Command and not exec.CommandContext.
func startProcess(name, path string, args, env []string, grace time.Duration, log *lockedWriter) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	out := &output{prefix: name, sink: log}
	// The same comparable writer for both makes os/exec use one pipe and call
	// Write from one goroutine at a time.
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	// Wait returns this long after the process exits even if something
	// still holds its output pipe.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	p := &process{name: name, grace: grace, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.flush()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after p.grace or
// once ctx ends. It reports an error if the process had already exited
// before stop, so a crash during a test does not go unnoticed.
func (p *process) stop(ctx context.Context) error {
	if p.exited() {
		return fmt.Errorf("%s (pid %d) had already exited: %v%s", p.name, p.pid(), p.err, p.out.tail())
	}
	// Errors are ignored: the only failure is that the process is already
	// gone, and done tells that for certain.
	_ = terminate(p.cmd.Process)
	grace := time.NewTimer(p.grace)
	defer grace.Stop()
	select {
	case <-p.done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	_ = kill(p.cmd.Process)
	wait := time.NewTimer(killWait)
	defer wait.Stop()
	select {
	case <-p.done:
		return nil
	case <-wait.C:
		return fmt.Errorf("%s (pid %d) still running %s after SIGKILL", p.name, p.pid(), killWait)
	}
}

// lockedWriter serializes writes from several processes to Options.Log,
// which need not be safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) writeLine(prefix, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A failing log must not stop the process, so the error is dropped.
	_, _ = fmt.Fprintf(l.w, "%s: %s\n", prefix, line)
}

// output splits a process's output into lines, forwards them prefixed with
// the process name, and keeps the last tailLines for error messages.
type output struct {
	prefix string
	sink   *lockedWriter

	mu      sync.Mutex
	partial []byte
	lines   []string // ring of the last tailLines lines
	next    int      // index in lines of the oldest line once full
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.addLine(string(o.partial[:i]))
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > maxLine {
		o.addLine(string(o.partial))
		o.partial = nil
	}
	return len(b), nil
}

// flush records a last line that has no newline.
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.addLine(string(o.partial))
		o.partial = nil
	}
}

func (o *output) addLine(line string) {
	if len(o.lines) < tailLines {
		o.lines = append(o.lines, line)
	} else {
		o.lines[o.next] = line
		o.next = (o.next + 1) % tailLines
	}
	o.sink.writeLine(o.prefix, line)
}

// tail returns the last lines as a block to append to an error message, or
// "" when there are none.
func (o *output) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 && len(o.partial) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- last lines of %s output ---\n", o.prefix)
	for i := range o.lines {
		writeCut(&b, o.lines[(o.next+i)%len(o.lines)])
	}
	if len(o.partial) > 0 {
		writeCut(&b, string(o.partial))
	}
	b.WriteString("---")
	return b.String()
}

// writeCut writes line cut to tailLineLen bytes, and a newline.
func writeCut(b *strings.Builder, line string) {
	if len(line) > tailLineLen {
		line = line[:tailLineLen] + " [...]"
	}
	b.WriteString(line)
	b.WriteByte('\n')
}

// environWithout returns the environment without variables whose name starts
// with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
