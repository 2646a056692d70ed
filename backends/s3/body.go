package s3

import (
	"context"
	"errors"
	"hash"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// errDetached: the backend request that read the body is over.
var errDetached = errors.New("s3: body read after its request ended")

// source hands the caller's body to a backend request. It enforces the
// declared size and never gives out the final byte before the caller's
// body has returned io.EOF: a body that fails its last check (signature,
// checksum, Content-MD5, size) leaves the backend one byte short, so the
// request is cut and the backend commits nothing.
//
// The transport may still call Read after the request returned (it reads
// bodies in its own goroutine); detach settles the outcome first, and
// Reads after it fail.
type source struct {
	r    io.Reader
	size int64
	n    int64 // bytes read from r
	// last is the held-back final byte; holding says it is held.
	last    byte
	holding bool
	eof     bool // r ended cleanly after exactly size bytes
	// h, when set, hashes every byte read (the checksum s3gate forwards).
	h hash.Hash
	// onEOF runs once, when r has ended cleanly, before the final byte
	// goes out; an error from it fails the body instead.
	onEOF func() error

	// ctx is the request's: once it is done, no more bytes go out (the
	// transport may otherwise finish writing a body whose request was
	// cancelled, and the backend commit it).
	ctx context.Context

	mu       sync.Mutex
	err      error // the first failure, returned by every later Read
	detached bool
}

func newSource(r io.Reader, size int64) *source { return &source{r: r, size: size} }

func (s *source) fail(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// detach ends the body's use: later Reads fail. It returns the body's own
// failure (nil if the caller's body was fine so far).
func (s *source) detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detached = true
	if s.err == errDetached {
		return nil
	}
	return s.err
}

func (s *source) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && s.detached {
		s.err = errDetached
	}
	if s.err == nil && s.ctx != nil {
		s.err = s.ctx.Err()
	}
	return s.err
}

// release gives out the held final byte, unless the request was cancelled
// meanwhile.
func (s *source) release(p []byte) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if !s.holding {
		return 0, io.EOF
	}
	s.holding = false
	p[0] = s.last
	return 1, io.EOF
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.eof {
		return s.release(p)
	}
	if s.n == s.size {
		// Everything but the held byte (if any) is out: the caller's body
		// must end here.
		if err := s.confirmEOF(); err != nil {
			return 0, s.fail(err)
		}
		return s.release(p)
	}
	if rest := s.size - s.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	k, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		return 0, s.fail(err)
	}
	if cerr := s.check(); cerr != nil {
		return 0, cerr
	}
	s.n += int64(k)
	if s.h != nil {
		s.h.Write(p[:k])
	}
	switch {
	case err == io.EOF && s.n < s.size:
		return 0, s.fail(backends.ErrIncompleteBody)
	case err == io.EOF && k > 0:
		// The final bytes came with the end: hold the last one back
		// all the same, until the request is known to be alive.
		if ferr := s.finish(); ferr != nil {
			return 0, s.fail(ferr)
		}
		s.last, s.holding = p[k-1], true
		return k - 1, nil
	case err == io.EOF:
		if ferr := s.finish(); ferr != nil {
			return 0, s.fail(ferr)
		}
		return s.release(p)
	case s.n == s.size && k > 0:
		s.last, s.holding = p[k-1], true
		return k - 1, nil
	}
	return k, nil
}

// confirmEOF reads the caller's body past the declared size: it must end
// now, cleanly.
func (s *source) confirmEOF() error {
	var probe [1]byte
	for range 100 {
		k, err := s.r.Read(probe[:])
		if k > 0 {
			return backends.ErrSizeMismatch
		}
		if err == io.EOF {
			return s.finish()
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func (s *source) finish() error {
	s.eof = true
	if s.onEOF != nil {
		return s.onEOF()
	}
	return nil
}

// chunked frames a source as an aws-chunked body
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER) whose trailer carries a checksum
// that is known only once the source has ended. Data is read straight into
// the caller's buffer; only the small frame headers are copied.
type chunked struct {
	src     *source
	chunk   int64
	left    int64 // data bytes not yet framed
	inChunk int64 // data bytes left in the current chunk
	pending []byte
	state   int
	// trailerName is the lower-case header name; trailerValue gives its
	// value after the source ended.
	trailerName  string
	trailerValue func() string
}

const (
	chunkHeader = iota
	chunkData
	chunkEnd
	chunkTrailer
	chunkDone
)

const awsChunkSize = 64 << 10

func newChunked(src *source, trailerName string, value func() string) *chunked {
	return &chunked{src: src, chunk: awsChunkSize, left: src.size, trailerName: trailerName, trailerValue: value}
}

// encodedLength is the Content-Length of the framed body for a data size
// and a trailer value of valueLen bytes.
func encodedLength(size int64, chunk int64, name string, valueLen int) int64 {
	frame := func(n int64) int64 { return int64(len(strconv.FormatInt(n, 16))) + 2 + n + 2 }
	total := (size / chunk) * frame(chunk)
	if r := size % chunk; r != 0 {
		total += frame(r)
	}
	total += int64(len("0\r\n"))
	total += int64(len(name)+1+valueLen) + 2
	return total + 2
}

func (c *chunked) Read(p []byte) (int, error) {
	for {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		}
		switch c.state {
		case chunkHeader:
			if c.left == 0 {
				// The end chunk goes out only after the source ended
				// cleanly, with the trailer.
				if err := c.drain(); err != nil {
					return 0, err
				}
				c.pending = []byte("0\r\n" + c.trailerName + ":" + c.trailerValue() + "\r\n\r\n")
				c.state = chunkDone
				continue
			}
			c.inChunk = min(c.chunk, c.left)
			c.pending = []byte(strconv.FormatInt(c.inChunk, 16) + "\r\n")
			c.state = chunkData
		case chunkData:
			if len(p) == 0 {
				return 0, nil
			}
			q := p
			if int64(len(q)) > c.inChunk {
				q = q[:c.inChunk]
			}
			n, err := c.src.Read(q)
			c.inChunk -= int64(n)
			c.left -= int64(n)
			if err != nil && err != io.EOF {
				return n, err
			}
			if c.inChunk == 0 {
				c.pending = []byte("\r\n")
				c.state = chunkHeader
			}
			if n > 0 {
				return n, nil
			}
			if err == io.EOF && c.inChunk > 0 {
				return 0, io.ErrUnexpectedEOF
			}
		case chunkDone:
			return 0, io.EOF
		}
	}
}

// drain makes sure the source has seen its clean end.
func (c *chunked) drain() error {
	var b [1]byte
	for !c.src.eof {
		n, err := c.src.Read(b[:])
		if n > 0 {
			return backends.ErrSizeMismatch
		}
		if err != nil && err != io.EOF {
			return err
		}
		if err == io.EOF {
			break
		}
	}
	return nil
}

// watchdog cancels a streaming request when the backend makes no progress
// for a while: it does not take the next bytes of a body (or send the next
// bytes of a response) within timeout. Time spent waiting for the caller's
// own body does not count.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func newWatchdog(d time.Duration, cancel context.CancelFunc) *watchdog {
	return &watchdog{t: time.AfterFunc(d, cancel), d: d}
}

func (w *watchdog) pause()  { w.t.Stop() }
func (w *watchdog) resume() { w.t.Reset(w.d) }
func (w *watchdog) stop()   { w.t.Stop() }

// watchedBody pauses the watchdog while the transport waits on the
// caller's body.
type watchedBody struct {
	r io.Reader
	w *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.pause()
	n, err := b.r.Read(p)
	b.w.resume()
	return n, err
}
