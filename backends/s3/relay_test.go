package s3

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// relay is a TCP proxy between a Store and the test versitygw: it counts
// the bytes going each way and can cut every connection at once, as a
// backend that goes down would.
type relay struct {
	ln       net.Listener
	target   string
	up, down atomic.Int64 // bytes to the backend, bytes back

	mu       sync.Mutex
	conns    map[net.Conn]bool
	closed   bool
	wg       sync.WaitGroup
	record   bool         // keep what goes to the backend
	captured bytes.Buffer // guarded by mu
}

func newRelay(t *testing.T, target string, record bool) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]bool{}, record: record}
	r.wg.Go(r.serve)
	t.Cleanup(r.close)
	return r
}

func (r *relay) endpoint() string { return "http://" + r.ln.Addr().String() }

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c, b) {
			return
		}
		r.wg.Go(func() { r.pipe(b, c, &r.up, r.record) })
		r.wg.Go(func() { r.pipe(c, b, &r.down, false) })
	}
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *relay) pipe(dst, src net.Conn, n *atomic.Int64, record bool) {
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 && record {
			r.mu.Lock()
			r.captured.Write(buf[:k])
			r.mu.Unlock()
		}
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
			n.Add(int64(k))
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// cut closes every open connection; new ones are still accepted.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
	clear(r.conns)
}

// close stops the relay: connections are cut and refused from now on.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.ln.Close()
	r.cut()
	r.wg.Wait()
}

// connCounter counts a transport's dials and the connections still open.
type connCounter struct {
	dials, open atomic.Int64
}

func (cc *connCounter) install(s *Store) {
	dial := (&net.Dialer{}).DialContext
	s.tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc.dials.Add(1)
		cc.open.Add(1)
		return &countedConn{Conn: c, cc: cc}, nil
	}
}

type countedConn struct {
	net.Conn
	cc   *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.cc.open.Add(-1) })
	return c.Conn.Close()
}

// discard reads a body to its end.
func discard(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }

// sent reports whether b went to the backend (with record set).
func (r *relay) sent(b []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.captured.Bytes(), b)
}
