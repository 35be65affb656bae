package pool

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// LogLine is one line of a candidate's log, with the time it arrived.
type LogLine struct {
	At       time.Time
	Identity string
	Text     string
}

// Logs keeps the candidates' log lines so that tests and the demo can wait
// for one and judge from them. Set it as a Pool's Stderr: it reads the
// "[identity] text" lines the pool writes.
type Logs struct {
	// CopyTo, when set, also receives everything written.
	CopyTo io.Writer

	mu      sync.Mutex
	lines   []LogLine
	changed chan struct{} // closed and replaced on every line
}

// NewLogs returns an empty log book.
func NewLogs() *Logs { return &Logs{changed: make(chan struct{})} }

// Write takes lines of the form "[identity] text".
func (b *Logs) Write(p []byte) (int, error) {
	now := time.Now()
	if b.CopyTo != nil {
		_, _ = b.CopyTo.Write(p)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		id, text := "", line
		if rest, ok := strings.CutPrefix(line, "["); ok {
			if i := strings.Index(rest, "] "); i > 0 {
				id, text = rest[:i], rest[i+2:]
			}
		}
		b.add(LogLine{At: now, Identity: id, Text: text})
	}
	return len(p), nil
}

// Add appends a line of identity, for candidates that run in-process.
func (b *Logs) Add(identity, text string) {
	b.add(LogLine{At: time.Now(), Identity: identity, Text: text})
}

func (b *Logs) add(l LogLine) {
	b.mu.Lock()
	b.lines = append(b.lines, l)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Lines returns the lines of identity that arrived at or after since.
func (b *Logs) Lines(identity string, since time.Time) []LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []LogLine
	for _, l := range b.lines {
		if l.Identity == identity && !l.At.Before(since) {
			out = append(out, l)
		}
	}
	return out
}

// Count returns how many lines of identity that arrived at or after since
// match.
func (b *Logs) Count(identity string, since time.Time, match func(string) bool) int {
	n := 0
	for _, l := range b.Lines(identity, since) {
		if match(l.Text) {
			n++
		}
	}
	return n
}

// WaitFor waits until ctx ends for a line of identity, arrived at or after
// since, that matches.
func (b *Logs) WaitFor(ctx context.Context, identity string, since time.Time, match func(string) bool) (LogLine, error) {
	for {
		b.mu.Lock()
		for _, l := range b.lines {
			if l.Identity == identity && !l.At.Before(since) && match(l.Text) {
				b.mu.Unlock()
				return l, nil
			}
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return LogLine{}, fmt.Errorf("pool: waiting for a log line of %s: %w", identity, ctx.Err())
		}
	}
}

// Dump renders every line, times in seconds since t0.
func (b *Logs) Dump(t0 time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, l := range b.lines {
		fmt.Fprintf(&s, "%8.3fs [%s] %s\n", l.At.Sub(t0).Seconds(), l.Identity, l.Text)
	}
	return s.String()
}

// Contains matches lines that contain text.
func Contains(text string) func(string) bool {
	return func(line string) bool { return strings.Contains(line, text) }
}
