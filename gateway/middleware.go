package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
)

// withRequest gives every request its state and S3 request id, and wraps the
// ResponseWriter so later layers can see the status and size.
func (g *Gateway) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &request{id: newRequestID(), start: g.now()}
		if r.ContentLength == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
			// net/http sends 100 Continue only when a handler reads a
			// body, so an empty one never gets it. S3 always sends it,
			// and botocore relies on that: without it, it misreads the
			// next response on the same connection and stalls.
			// Sent before any header is set: a 1xx carries the headers
			// set so far.
			w.WriteHeader(http.StatusContinue)
		}
		h := w.Header()
		h.Set("x-amz-request-id", st.id)
		h.Set("x-amz-id-2", g.hostID)
		h.Set("Server", "s3gate")
		rec := &recorder{ResponseWriter: w}
		st.conn = http.NewResponseController(w)
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, st))
		if err := g.checkHeaderLimits(r); err != nil {
			g.writeError(rec, r, err)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// checkHeaderLimits answers an oversized header section with S3's error.
// The http.Server's own limit is set above this one, so requests between
// the two get the S3 answer rather than net/http's plain-text 431.
func (g *Gateway) checkHeaderLimits(r *http.Request) error {
	n, size := 0, len(r.Method)+len(r.RequestURI)+len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n++
			size += len(k) + len(v) + 4
		}
	}
	if (g.opts.MaxHeaderBytes > 0 && size > g.opts.MaxHeaderBytes) || n > g.opts.MaxHeaders {
		return s3Error("RequestHeaderSectionTooLarge").with("MaxSizeAllowed", strconv.Itoa(g.opts.MaxHeaderBytes))
	}
	return nil
}

// recover turns a panic into InternalError (when nothing was sent yet) and a
// log line with the request id. http.ErrAbortHandler passes through: it is
// how a handler aborts a response it can no longer complete.
func (g *Gateway) recover(next http.Handler) http.Handler {
	return g.recoverWith(next, func(w http.ResponseWriter, r *http.Request) {
		g.writeError(w, r, errors.New("panic"))
	})
}

// recoverWith is recover with the error answer written by internalError
// (the admin API answers in JSON).
func (g *Gateway) recoverWith(next http.Handler, internalError func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			st := requestState(r.Context())
			g.log.ErrorContext(r.Context(), "panic serving request", "request_id", st.id, "op", st.op, "panic", v)
			if rec, ok := w.(*recorder); ok && rec.status != 0 {
				panic(http.ErrAbortHandler)
			}
			internalError(w, r)
		}()
		next.ServeHTTP(w, r)
	})
}

// observe writes the access log line and the request metrics once the
// response is done.
func (g *Gateway) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.metrics.inflight.Inc()
		defer g.metrics.inflight.Dec()
		next.ServeHTTP(w, r)

		st := requestState(r.Context())
		rec := w.(*recorder)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := g.now().Sub(st.start)
		op := st.op
		if op == "" {
			op = "Unknown"
		}
		bytesIn := int64(0)
		if r.ContentLength > 0 {
			bytesIn = r.ContentLength
		}
		g.metrics.observe(op, status, elapsed, bytesIn, rec.bytes)
		if g.opts.Analytics != nil {
			g.opts.Analytics.Record(accessRow(r, st, op, status, bytesIn, rec.bytes, elapsed))
		}
		if g.opts.AccessLog {
			principal := ""
			if st.principal != nil {
				principal = st.principal.ID
			}
			g.log.InfoContext(r.Context(), "request",
				"request_id", st.id,
				"op", op,
				"method", r.Method,
				"bucket", st.bucket,
				"key", st.key,
				"status", status,
				"error", st.errCode,
				"principal", principal,
				"auth", string(st.authKind),
				"payload", payloadMode(st),
				"checksum", st.checksum,
				"checksum_source", st.checksumFrom,
				"remote", r.RemoteAddr,
				"bytes_in", bytesIn,
				"bytes_out", rec.bytes,
				"duration_ms", float64(elapsed.Microseconds())/1000,
			)
		}
	})
}

// AccessRecorder takes the analytics row of each S3 request.
type AccessRecorder interface {
	Record(analytics.Request)
}

// accessRow is the analytics row of a finished request.
func accessRow(r *http.Request, st *request, op string, status int, bytesIn, bytesOut int64, elapsed time.Duration) analytics.Request {
	row := analytics.Request{
		ID: st.id, Time: st.start, Operation: op, Bucket: st.bucket, Key: st.key,
		AuthKind: string(st.authKind), SourceIP: sourceIP(r), UserAgent: r.UserAgent(),
		Status: status, ErrorCode: st.errCode, BytesIn: bytesIn, BytesOut: bytesOut, Latency: elapsed,
		// Calls from concurrent goroutines add up past the wall clock.
		BackendLatency: min(time.Duration(st.backendNanos.Load()), elapsed),
	}
	if st.principal != nil {
		row.Principal = st.principal.ID
	}
	if len(row.UserAgent) > maxUserAgent {
		row.UserAgent = row.UserAgent[:maxUserAgent]
	}
	return row
}

// maxUserAgent bounds the user agent kept per request.
const maxUserAgent = 256

// payloadMode is how the request's body was signed, for the access log:
// the x-amz-content-sha256 mode, with "sha256" for a hex digest.
func payloadMode(st *request) string {
	if st.auth == nil {
		return ""
	}
	if p := st.auth.PayloadHash; len(p) != 64 || strings.Contains(p, "-") {
		return p
	}
	return "sha256"
}

// limit caps requests in flight. Past the cap S3's answer is SlowDown, at
// once: queueing would only make every client slower.
func (g *Gateway) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
			next.ServeHTTP(w, r)
		default:
			g.metrics.rejected.Inc()
			g.writeError(w, r, s3Error("SlowDown"))
		}
	})
}
