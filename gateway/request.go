package gateway

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/sigv4"
)

// request is what the middleware and handlers learn about one request as it
// passes; the access log and metrics read it at the end.
type request struct {
	id     string
	start  time.Time
	op     string
	bucket string
	key    string
	// virtualHost: the bucket came from the Host header.
	virtualHost bool

	authKind  identity.AuthKind
	accessKey string
	principal *identity.Principal
	auth      *sigv4.Result
	// securityToken is the session token of temporary credentials;
	// authErr, the verdict on it when it does not open.
	securityToken string
	authErr       error

	// checksum is the algorithm verified on an upload, checksumFrom where
	// its expected value came from (header, trailer, default).
	checksum     string
	checksumFrom string

	query   url.Values
	errCode string
	// conn controls the connection's read deadline while a body is read.
	conn *http.ResponseController
	// backendNanos is the time spent waiting for the backend (see
	// timedBackend); atomic, as a handler may call it from more than one
	// goroutine.
	backendNanos atomic.Int64
}

type requestKey struct{}

// requestState returns the state of the request ctx belongs to. Requests
// that did not enter through the Gateway (unit tests of a handler) get a
// fresh one.
func requestState(ctx context.Context) *request {
	if st, ok := ctx.Value(requestKey{}).(*request); ok {
		return st
	}
	return &request{}
}

// newRequestID returns S3's style of request id: 16 upper-case hex digits.
func newRequestID() string { return fmt.Sprintf("%016X", rand.Uint64()) }

// recorder is the ResponseWriter the middleware sees: it remembers the
// status and counts the body bytes.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for object bodies.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
