package s3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3gate/s3gate/backends"
)

func apiErr(status int, code string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "from the backend"},
	}
}

func TestMapErr(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{"NoSuchBucket", t.Context(), apiErr(404, "NoSuchBucket"), backends.ErrNoSuchBucket},
		{"NoSuchKey", t.Context(), apiErr(404, "NoSuchKey"), backends.ErrNoSuchKey},
		{"HEAD 404", t.Context(), apiErr(404, "NotFound"), backends.ErrNoSuchKey},
		{"BucketNotEmpty", t.Context(), apiErr(409, "BucketNotEmpty"), backends.ErrBucketNotEmpty},
		{"BucketAlreadyOwnedByYou", t.Context(), apiErr(409, "BucketAlreadyOwnedByYou"), backends.ErrBucketExists},
		{"PreconditionFailed", t.Context(), apiErr(412, "PreconditionFailed"), backends.ErrPreconditionFail},
		{"ConditionalRequestConflict", t.Context(), apiErr(409, "ConditionalRequestConflict"), backends.ErrPreconditionFail},
		{"304", t.Context(), apiErr(304, ""), backends.ErrNotModified},
		{"InvalidRange", t.Context(), apiErr(416, "InvalidRange"), backends.ErrInvalidRange},
		{"NoSuchUpload", t.Context(), apiErr(404, "NoSuchUpload"), backends.ErrNoSuchUpload},
		{"InvalidPart", t.Context(), apiErr(400, "InvalidPart"), backends.ErrInvalidPart},
		{"InvalidPartOrder", t.Context(), apiErr(400, "InvalidPartOrder"), backends.ErrInvalidPartOrder},
		{"EntityTooSmall", t.Context(), apiErr(400, "EntityTooSmall"), backends.ErrEntityTooSmall},
		{"BadDigest", t.Context(), apiErr(400, "BadDigest"), backends.ErrBadDigest},
		{"KeyTooLongError", t.Context(), apiErr(400, "KeyTooLongError"), backends.ErrKeyTooLong},
		{"checksum type mismatch", t.Context(), &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}},
			Err: &smithy.GenericAPIError{Code: "InvalidRequest", Message: "Checksum Type mismatch occurred, expected checksum Type: CRC32"}}, backends.ErrChecksumAlgorithm},
		{"SlowDown", t.Context(), apiErr(503, "SlowDown"), backends.ErrBackendUnavailable},
		{"InternalError", t.Context(), apiErr(500, "InternalError"), backends.ErrBackendUnavailable},
		{"bare 502", t.Context(), apiErr(502, ""), backends.ErrBackendUnavailable},
		{"connection refused", t.Context(), &smithyhttp.RequestSendError{Err: syscall.ECONNREFUSED}, backends.ErrBackendUnavailable},
		{"our timeout", t.Context(), &smithyhttp.RequestSendError{Err: context.DeadlineExceeded}, backends.ErrBackendUnavailable},
		{"caller cancelled", cancelled, apiErr(500, "InternalError"), context.Canceled},
	}
	for _, tc := range tests {
		got := mapErr(tc.ctx, tc.err)
		if !errors.Is(got, tc.want) {
			t.Errorf("%s: mapErr = %v, want %v", tc.name, got, tc.want)
		}
	}
	// An answer that is none of these stays what it is (the gateway
	// reports it as an internal error).
	if got := mapErr(t.Context(), apiErr(403, "AccessDenied")); errors.Is(got, backends.ErrBackendUnavailable) || errors.Is(got, backends.ErrNoSuchKey) {
		t.Errorf("AccessDenied mapped to %v", got)
	}
}

// fakeBackend answers every request with status and an S3 error document,
// counting requests.
func fakeBackend(t *testing.T, status int, code string) (*Store, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, "<Error><Code>%s</Code><Message>fake</Message></Error>", code)
		}
	}))
	t.Cleanup(srv.Close)
	s, err := New(t.Context(), Options{Endpoint: srv.URL, AccessKey: "a", SecretKey: "b", PathStyle: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &n
}

// TestRetries: idempotent calls retry a failing backend before reporting
// ErrBackendUnavailable; streamed bodies and conditional writes get one
// attempt.
func TestRetries(t *testing.T) {
	t.Parallel()
	s, n := fakeBackend(t, 503, "SlowDown")
	ctx := t.Context()
	calls := []struct {
		name     string
		attempts int64
		call     func() error
	}{
		{"HeadObject", 3, func() error { _, err := s.HeadObject(ctx, "bkt", "k", backends.GetOptions{}); return err }},
		{"GetObject", 3, func() error { _, err := s.GetObject(ctx, "bkt", "k", backends.GetOptions{}); return err }},
		{"ListObjects", 3, func() error { _, err := s.ListObjects(ctx, "bkt", backends.ListOptions{MaxKeys: 5}); return err }},
		{"small PutObject", 3, func() error {
			_, err := s.PutObject(ctx, "bkt", "k", strings.NewReader("abc"), backends.PutOptions{Size: 3})
			return err
		}},
		{"conditional PutObject", 1, func() error {
			_, err := s.PutObject(ctx, "bkt", "k", strings.NewReader("abc"), backends.PutOptions{Size: 3, IfNoneMatch: "*"})
			return err
		}},
		{"streamed PutObject", 1, func() error {
			data := bytes.Repeat([]byte("s"), 1<<20)
			_, err := s.PutObject(ctx, "bkt", "k", bytes.NewReader(data), backends.PutOptions{Size: int64(len(data))})
			return err
		}},
	}
	for _, c := range calls {
		n.Store(0)
		err := c.call()
		if !errors.Is(err, backends.ErrBackendUnavailable) {
			t.Errorf("%s: error = %v, want ErrBackendUnavailable", c.name, err)
		}
		if got := n.Load(); got != c.attempts {
			t.Errorf("%s: %d attempts, want %d", c.name, got, c.attempts)
		}
	}

	// A backend that is not there at all.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down, err := New(ctx, Options{Endpoint: "http://" + addr, AccessKey: "a", SecretKey: "b", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.HeadObject(ctx, "bkt", "k", backends.GetOptions{}); !errors.Is(err, backends.ErrBackendUnavailable) {
		t.Errorf("backend down: error = %v, want ErrBackendUnavailable", err)
	}
}

// stallServer accepts connections and, after reading a request's headers,
// does what stall says; it never ends a request by itself.
func stallServer(t *testing.T, stall func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				stall(c, r)
				<-done
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestTimeouts: a backend that stops answering, stops sending a body or
// stops reading one fails the call with ErrBackendUnavailable after about
// Timeout, however long the object.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	open := func(endpoint string) *Store {
		s, err := New(t.Context(), Options{Endpoint: endpoint, AccessKey: "a", SecretKey: "b", PathStyle: true, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	within := func(what string, start time.Time, max time.Duration) {
		t.Helper()
		if d := time.Since(start); d > max {
			t.Errorf("%s took %v, want at most %v", what, d, max)
		}
	}

	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		s := open(stallServer(t, func(net.Conn, *bufio.Reader) {}))
		start := time.Now()
		_, err := s.HeadObject(t.Context(), "bkt", "k", backends.GetOptions{})
		if !errors.Is(err, backends.ErrBackendUnavailable) {
			t.Errorf("HeadObject error = %v, want ErrBackendUnavailable", err)
		}
		within("HeadObject", start, timeout+time.Second)
	})
	t.Run("body stalls", func(t *testing.T) {
		t.Parallel()
		s := open(stallServer(t, func(c net.Conn, _ *bufio.Reader) {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nETag: \"x\"\r\nLast-Modified: Mon, 02 Jan 2006 15:04:05 GMT\r\n\r\n")
			c.Write(bytes.Repeat([]byte("g"), 1000))
		}))
		// A deadline of its own, so a missing watchdog fails the test
		// instead of hanging it.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		obj, err := s.GetObject(ctx, "bkt", "k", backends.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Body.Close()
		start := time.Now()
		n, err := discard(obj.Body)
		if n != 1000 || !errors.Is(err, backends.ErrBackendUnavailable) {
			t.Errorf("read %d bytes, %v; want 1000, ErrBackendUnavailable", n, err)
		}
		within("reading the stalled body", start, timeout+time.Second)
	})
	t.Run("body not read", func(t *testing.T) {
		t.Parallel()
		s := open(stallServer(t, func(c net.Conn, _ *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
		}))
		start := time.Now()
		const size = 256 << 20 // far more than the socket buffers hold
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := s.PutObject(ctx, "bkt", "k", io.LimitReader(zeros{}, size), backends.PutOptions{Size: size})
		if !errors.Is(err, backends.ErrBackendUnavailable) {
			t.Errorf("PutObject error = %v, want ErrBackendUnavailable", err)
		}
		within("PutObject", start, timeout+2*time.Second)
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
