package pool

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLogs(t *testing.T) {
	b := NewLogs()
	var copied strings.Builder
	b.CopyTo = &copied
	t0 := time.Now()
	if _, err := b.Write([]byte("[go-1] acquired lease\n[py-1] lease held by go-1 \nno prefix\n")); err != nil {
		t.Fatal(err)
	}
	b.Add("inproc", "renewed lease")
	if got := b.Lines("go-1", t0); len(got) != 1 || got[0].Text != "acquired lease" {
		t.Errorf("Lines(go-1) = %+v", got)
	}
	if got := b.Lines("", t0); len(got) != 1 || got[0].Text != "no prefix" {
		t.Errorf("a line without an identity = %+v", got)
	}
	if n := b.Count("py-1", t0, Contains("held by go-1")); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	if n := b.Count("py-1", time.Now().Add(time.Hour), Contains("held")); n != 0 {
		t.Errorf("Count of lines after since = %d, want 0", n)
	}
	if !strings.Contains(copied.String(), "[go-1] acquired lease") {
		t.Errorf("CopyTo got %q", copied.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.Add("go-2", "started")
	}()
	if l, err := b.WaitFor(ctx, "go-2", t0, Contains("started")); err != nil || l.Identity != "go-2" {
		t.Errorf("WaitFor = %+v, %v", l, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if _, err := b.WaitFor(short, "go-3", t0, Contains("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor with nothing to find: %v", err)
	}
	if d := b.Dump(t0); !strings.Contains(d, "[inproc] renewed lease") {
		t.Errorf("Dump = %q", d)
	}
}
