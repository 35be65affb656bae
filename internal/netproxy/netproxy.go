// Package netproxy is a loopback TCP proxy for fault tests. A test puts one
// in front of each candidate, between it and the API server, and can then
// cut that one candidate off, slow it down or hold its traffic while the
// others carry on.
//
// It forwards bytes, not requests: TLS passes through untouched (the API
// server's certificate has the IP SAN 127.0.0.1, which is where the proxy
// listens), so what it sees and counts are connections, bytes and chunks, a
// chunk being what one read of a socket returned. For a client that writes
// one request at a time on a warm connection, as client-go's HTTP/2 and the
// Python client's HTTP/1.1 do, one chunk towards the server is about one
// request; Chunks gives the time of each, so a test can tell whether a
// process sent anything at all in a given stretch of time.
//
// Why not github.com/Shopify/toxiproxy: it is a whole server, and using it as
// a library still means its API server and toxic collection, and adds
// Prometheus, zerolog, gorilla/mux and urfave/cli to this module's go.mod,
// which is kept lean on purpose (the Prometheus adapter is a module of its
// own for that reason). Its toxics do not keep the bytes of a stalled
// connection to deliver them later (Hold), cannot let n chunks through and
// then stall one direction (HoldUpAfter), and count nothing per connection.
// What the tests need fits in this file.
package netproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with traffic.
type Mode int

const (
	// Pass forwards every chunk at once.
	Pass Mode = iota
	// Blackhole forwards nothing: it accepts new connections without
	// dialling the server, and reads and drops every byte in both
	// directions of every connection, so a client's writes succeed and
	// its requests are never answered, as behind a partition that drops
	// packets. A connection that lost bytes carries a corrupt stream, so
	// it is closed when the mode changes; new connections then pass.
	Blackhole
	// Slow forwards each chunk after the latency set with SetLatency, one
	// chunk at a time per direction and connection.
	Slow
	// Hold forwards nothing and loses nothing: every connection stalls in
	// both directions, with the bytes read so far kept, and resumes intact
	// when the mode changes, as after a partition that heals before TCP
	// gives up. New connections are accepted and stall too.
	Hold
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Slow:
		return "slow"
	case Hold:
		return "hold"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// maxChunks bounds the chunk log; older chunks are forgotten.
const maxChunks = 20000

// Chunk is one read of a socket by the proxy.
type Chunk struct {
	Conn  int       // connection number, from 1
	Up    bool      // client to server
	Bytes int       // length
	At    time.Time // when the proxy read it
	// Fate is what happened to it: "forwarded", "dropped" (Blackhole) or
	// "held" (still held when the log was read).
	Fate string
}

// Flow counts one direction of traffic.
type Flow struct {
	Chunks       int   // chunks read
	Bytes        int64 // bytes read
	DroppedBytes int64 // bytes dropped in Blackhole mode
}

// ConnStats describes one connection.
type ConnStats struct {
	ID             int
	Opened, Closed time.Time // Closed is zero while open
	Up, Down       Flow
}

// Stats sums up every connection so far.
type Stats struct {
	Conns    int // accepted
	Open     int // still open
	Up, Down Flow
}

// Proxy forwards connections from its loopback address to a target.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond // signalled when mode, holdUp or closed change
	mode     Mode
	latency  time.Duration
	holdUp   bool // HoldUpAfter armed
	upBudget int  // chunks towards the server still to pass once armed
	closed   bool
	conns    []*conn // every connection, in order of ID - 1
	chunks   []Chunk
	forgot   int // chunks dropped from the front of the log
}

type conn struct {
	stats          ConnStats
	client, server net.Conn // server is nil for a connection accepted in Blackhole
	lost           bool     // dropped bytes: the stream is corrupt
	closed         bool
}

// New starts a proxy on 127.0.0.1 with a free port, forwarding to target
// (host:port) in Pass mode.
func New(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("netproxy: target %q is not host:port: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netproxy: %w", err)
	}
	p := &Proxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address the proxy listens on, 127.0.0.1:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode switches every connection, open and future, to m, and disarms
// HoldUpAfter. Leaving Blackhole closes the connections that lost bytes;
// leaving Hold forwards what was held.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode, p.holdUp = m, false
	var corrupt []*conn
	if m != Blackhole {
		for _, c := range p.conns {
			if c.lost && !c.closed {
				corrupt = append(corrupt, c)
			}
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range corrupt {
		p.closeConn(c)
	}
}

// SetLatency sets the delay Slow adds to each chunk.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// HoldUpAfter lets n more chunks pass towards the server and then holds
// that direction, keeping the bytes, until the next SetMode; the server's
// answers keep flowing. With n = 1 on a warm connection, a client's next
// request passes and the one after it, such as the write that follows a
// read, is held.
func (p *Proxy) HoldUpAfter(n int) {
	p.mu.Lock()
	p.holdUp, p.upBudget = true, n
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Stats returns the totals so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s Stats
	for _, c := range p.conns {
		s.Conns++
		if !c.closed {
			s.Open++
		}
		s.Up.add(c.stats.Up)
		s.Down.add(c.stats.Down)
	}
	return s
}

func (f *Flow) add(g Flow) {
	f.Chunks += g.Chunks
	f.Bytes += g.Bytes
	f.DroppedBytes += g.DroppedBytes
}

// Conns returns every connection so far, in the order they were accepted.
func (p *Proxy) Conns() []ConnStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ConnStats, len(p.conns))
	for i, c := range p.conns {
		out[i] = c.stats
	}
	return out
}

// Chunks returns the chunks read at or after since, oldest first (at most
// the last 20,000 of the proxy's life).
func (p *Proxy) Chunks(since time.Time) []Chunk {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Chunk
	for _, ch := range p.chunks {
		if !ch.At.Before(since) {
			out = append(out, ch)
		}
	}
	return out
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := append([]*conn(nil), p.conns...)
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		p.closeConn(c)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			return
		}
		c := &conn{client: client, stats: ConnStats{ID: len(p.conns) + 1, Opened: time.Now()}}
		p.conns = append(p.conns, c)
		blackhole := p.mode == Blackhole
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, blackhole)
	}
}

func (p *Proxy) serve(c *conn, blackhole bool) {
	defer p.wg.Done()
	defer p.closeConn(c)
	if blackhole {
		p.mu.Lock()
		c.lost = true
		p.mu.Unlock()
		p.pump(c, c.client, nil, true)
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		// The client sees its connection closed, as it would see a
		// refused one if it had dialled the server itself.
		return
	}
	p.mu.Lock()
	c.server = server
	closed := c.closed
	p.mu.Unlock()
	if closed {
		server.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.pump(c, server, c.client, false)
		p.closeConn(c)
	}()
	p.pump(c, c.client, server, true)
	p.closeConn(c)
	<-done
}

// pump copies src to dst chunk by chunk, as the mode says, until either
// side fails. A nil dst drops everything.
func (p *Proxy) pump(c *conn, src, dst net.Conn, up bool) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.forward(c, dst, buf[:n], up, time.Now()) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward handles one chunk read at at; false means stop pumping.
func (p *Proxy) forward(c *conn, dst net.Conn, b []byte, up bool, at time.Time) bool {
	p.mu.Lock()
	flow := &c.stats.Down
	if up {
		flow = &c.stats.Up
	}
	flow.Chunks++
	flow.Bytes += int64(len(b))
	seq := p.logChunk(Chunk{Conn: c.stats.ID, Up: up, Bytes: len(b), At: at, Fate: "held"})
	for {
		if p.closed || c.closed {
			p.mu.Unlock()
			return false
		}
		if p.mode == Blackhole || dst == nil {
			flow.DroppedBytes += int64(len(b))
			c.lost = true
			p.setFate(seq, "dropped")
			p.mu.Unlock()
			return true
		}
		if p.mode == Hold || up && p.holdUp && p.upBudget == 0 {
			p.cond.Wait()
			continue
		}
		break
	}
	if up && p.holdUp {
		p.upBudget--
	}
	var delay time.Duration
	if p.mode == Slow {
		delay = p.latency
	}
	p.setFate(seq, "forwarded")
	p.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	_, err := dst.Write(b)
	return err == nil
}

// logChunk appends ch to the log and returns its sequence number.
func (p *Proxy) logChunk(ch Chunk) int {
	if len(p.chunks) >= maxChunks {
		drop := len(p.chunks) - maxChunks/2
		p.chunks = append(p.chunks[:0], p.chunks[drop:]...)
		p.forgot += drop
	}
	p.chunks = append(p.chunks, ch)
	return p.forgot + len(p.chunks) - 1
}

// setFate sets the fate of the chunk with sequence number seq, unless the
// log has forgotten it.
func (p *Proxy) setFate(seq int, fate string) {
	if i := seq - p.forgot; i >= 0 && i < len(p.chunks) {
		p.chunks[i].Fate = fate
	}
}

func (p *Proxy) closeConn(c *conn) {
	p.mu.Lock()
	if c.closed {
		p.mu.Unlock()
		return
	}
	c.closed = true
	c.stats.Closed = time.Now()
	server := c.server
	p.cond.Broadcast()
	p.mu.Unlock()
	c.client.Close()
	if server != nil {
		server.Close()
	}
}

// ErrNoTraffic is returned by WaitChunk when no matching chunk arrived.
var ErrNoTraffic = errors.New("netproxy: no matching chunk")

// WaitChunk waits up to within for a chunk read at or after since that
// matches, polling every few milliseconds, and returns it.
func (p *Proxy) WaitChunk(since time.Time, within time.Duration, match func(Chunk) bool) (Chunk, error) {
	deadline := time.Now().Add(within)
	for {
		for _, ch := range p.Chunks(since) {
			if match(ch) {
				return ch, nil
			}
		}
		if time.Now().After(deadline) {
			return Chunk{}, fmt.Errorf("%w within %v", ErrNoTraffic, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ io.Closer = (*Proxy)(nil)
