package netproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/netproxy"
)

// echoServer echoes every line back and counts its connections.
type echoServer struct {
	ln    net.Listener
	conns atomic.Int64
}

func newEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func newProxy(t *testing.T, target string) *netproxy.Proxy {
	t.Helper()
	p, err := netproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *netproxy.Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{Conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
}

// recv reads a line within d; ok is false when none came.
func (c *client) recv(d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, err := c.r.ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func (c *client) echo(t *testing.T, line string) {
	t.Helper()
	c.send(t, line)
	got, err := c.recv(5 * time.Second)
	if err != nil || got != line {
		t.Fatalf("echo of %q: %q, %v", line, got, err)
	}
}

func (c *client) silent(t *testing.T, d time.Duration) {
	t.Helper()
	if got, err := c.recv(d); !isTimeout(err) {
		t.Fatalf("got %q, %v; want nothing for %v", got, err, d)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPassForwardsAndCounts(t *testing.T) {
	t.Parallel()
	s := newEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	c.echo(t, "hello")
	c.echo(t, "again")
	st := p.Stats()
	if st.Conns != 1 || st.Open != 1 || st.Up.Bytes != 12 || st.Down.Bytes != 12 || st.Up.Chunks != 2 {
		t.Errorf("stats %+v, want 1 connection, 12 bytes and 2 chunks each way", st)
	}
	ups := 0
	for _, ch := range p.Chunks(time.Time{}) {
		if ch.Up {
			ups++
		}
		if ch.Fate != "forwarded" || ch.Conn != 1 {
			t.Errorf("chunk %+v", ch)
		}
	}
	if ups != 2 {
		t.Errorf("%d chunks towards the server, want 2", ups)
	}
	dial(t, p).echo(t, "second connection")
	conns := p.Conns()
	if len(conns) != 2 || conns[0].Up.Bytes != 12 || conns[1].ID != 2 || conns[1].Up.Chunks != 1 || !conns[0].Closed.IsZero() {
		t.Errorf("per connection: %+v", conns)
	}
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for p.Conns()[0].Closed.IsZero() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.Conns()[0].Closed.IsZero() || p.Stats().Open != 1 {
		t.Errorf("after the client closed its connection: %+v, %+v", p.Conns()[0], p.Stats())
	}
}

func TestBlackholeDropsAndHolds(t *testing.T) {
	t.Parallel()
	s := newEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	old := dial(t, p)
	old.echo(t, "before")
	p.SetMode(netproxy.Blackhole)
	old.send(t, "lost") // writes succeed ...
	old.silent(t, 300*time.Millisecond)
	fresh := dial(t, p) // ... and connections are accepted ...
	fresh.send(t, "also lost")
	fresh.silent(t, 300*time.Millisecond)
	if n := s.conns.Load(); n != 1 {
		t.Errorf("the server saw %d connections, want only the one from before the cut", n)
	}
	st := p.Stats()
	if st.Up.DroppedBytes != int64(len("lost\nalso lost\n")) {
		t.Errorf("dropped %d bytes towards the server, want %d", st.Up.DroppedBytes, len("lost\nalso lost\n"))
	}

	p.SetMode(netproxy.Pass)
	// Streams that lost bytes are corrupt: both are closed.
	for _, c := range []*client{old, fresh} {
		if got, err := c.recv(2 * time.Second); err == nil || isTimeout(err) {
			t.Errorf("a connection that lost bytes read %q, %v after the heal; want it closed", got, err)
		}
	}
	dial(t, p).echo(t, "healed")
}

func TestBlackholeDropsAnswers(t *testing.T) {
	t.Parallel()
	// The server answers late, after the cut: the answer is dropped.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answer := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		<-answer
		_, _ = io.WriteString(c, "late\n")
		time.Sleep(time.Second)
	}()
	p := newProxy(t, ln.Addr().String())
	c := dial(t, p)
	c.send(t, "question")
	time.Sleep(100 * time.Millisecond)
	p.SetMode(netproxy.Blackhole)
	close(answer)
	c.silent(t, 300*time.Millisecond)
	if d := p.Stats().Down.DroppedBytes; d != 5 {
		t.Errorf("dropped %d bytes towards the client, want 5", d)
	}
}

func TestSlowAddsLatency(t *testing.T) {
	t.Parallel()
	s := newEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	c.echo(t, "warm")
	const latency = 150 * time.Millisecond
	p.SetLatency(latency)
	p.SetMode(netproxy.Slow)
	start := time.Now()
	c.echo(t, "slow")
	if took := time.Since(start); took < 2*latency {
		t.Errorf("a round trip took %v in Slow mode, want at least 2 × %v", took, latency)
	}
	p.SetMode(netproxy.Pass)
	start = time.Now()
	c.echo(t, "fast")
	if took := time.Since(start); took >= latency {
		t.Logf("a round trip took %v after Slow ended (loaded machine?)", took)
	}
}

func TestHoldKeepsBytes(t *testing.T) {
	t.Parallel()
	s := newEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	c.echo(t, "before")
	p.SetMode(netproxy.Hold)
	c.send(t, "held")
	c.silent(t, 300*time.Millisecond)
	held := 0
	for _, ch := range p.Chunks(time.Time{}) {
		if ch.Fate == "held" {
			held++
		}
	}
	if held != 1 {
		t.Errorf("%d chunks held, want 1: %+v", held, p.Chunks(time.Time{}))
	}
	p.SetMode(netproxy.Pass)
	if got, err := c.recv(5 * time.Second); err != nil || got != "held" {
		t.Fatalf("after Hold ended the held line came back as %q, %v", got, err)
	}
	c.echo(t, "after")
}

func TestHoldUpAfter(t *testing.T) {
	t.Parallel()
	s := newEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	c.echo(t, "warm")
	p.HoldUpAfter(1)
	c.echo(t, "read") // passes, and its answer comes back
	start := time.Now()
	c.send(t, "write")
	c.silent(t, 300*time.Millisecond)
	ch, err := p.WaitChunk(start, time.Second, func(ch netproxy.Chunk) bool { return ch.Up && ch.Fate == "held" })
	if err != nil || ch.Bytes != len("write\n") {
		t.Fatalf("held chunk %+v, %v", ch, err)
	}
	p.SetMode(netproxy.Pass)
	if got, err := c.recv(5 * time.Second); err != nil || got != "write" {
		t.Fatalf("the held write came back as %q, %v", got, err)
	}
}

func TestTLSPassesThrough(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	p := newProxy(t, srv.Listener.Addr().String())
	hc := srv.Client() // trusts the server's certificate, which names 127.0.0.1
	for i := range 5 {
		resp, err := hc.Get("https://" + p.Addr() + "/")
		if err != nil {
			t.Fatalf("request %d through the proxy: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "HTTP/2.0" {
			t.Errorf("request %d: %q, want HTTP/2.0", i, body)
		}
	}
	if c := p.Stats().Conns; c != 1 {
		t.Errorf("%d connections for 5 requests, want 1 (kept alive)", c)
	}
}

func TestUnreachableTargetClosesClient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newProxy(t, addr)
	c := dial(t, p)
	if got, err := c.recv(5 * time.Second); err == nil || isTimeout(err) {
		t.Fatalf("read %q, %v; want the connection closed", got, err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	s := newEcho(t)
	p, err := netproxy.New(s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	c.echo(t, "x")
	p.SetMode(netproxy.Hold)
	c.send(t, "held while closing")
	time.Sleep(50 * time.Millisecond)
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s")
	}
	if _, err := c.recv(2 * time.Second); err == nil || isTimeout(err) {
		t.Errorf("the connection is still open after Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Errorf("the proxy still accepts connections after Close")
	}
	if st := p.Stats(); st.Open != 0 {
		t.Errorf("%d connections open after Close", st.Open)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBadTarget(t *testing.T) {
	t.Parallel()
	if _, err := netproxy.New("no-port"); err == nil || !strings.Contains(err.Error(), `"no-port"`) {
		t.Errorf("New(\"no-port\") = %v, want an error naming it", err)
	}
}
