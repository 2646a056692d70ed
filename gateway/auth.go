package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/sigv4"
)

// authenticate establishes who sent the request. Anonymous requests are
// refused: without a policy that grants anonymous access, s3gate denies.
func (g *Gateway) authenticate(r *http.Request) error {
	st := requestState(r.Context())
	res, err := g.verifier.Verify(r)
	if errors.Is(err, sigv4.ErrNoAuth) {
		st.authKind = identity.AuthAnonymous
		return s3Error("AccessDenied")
	}
	if err != nil {
		return err
	}
	st.auth = res
	st.accessKey = res.AccessKey
	if res.Kind == sigv4.KindPresigned {
		st.authKind = identity.AuthPresigned
	} else {
		st.authKind = identity.AuthSigV4
	}
	return nil
}

// secret is the verifier's key lookup. It records the key's principal in the
// request state, so a request is looked up once.
func (g *Gateway) secret(ctx context.Context, accessKey string) (string, error) {
	k, err := g.keys.Lookup(ctx, accessKey)
	if errors.Is(err, identity.ErrUnknownKey) {
		return "", sigv4.ErrUnknownAccessKey
	}
	if err != nil {
		return "", err
	}
	p := k.Principal
	requestState(ctx).principal = &p
	return k.Secret, nil
}

// body returns the request body wrapped so that it verifies the signed
// payload as it streams, and so that a client may not stall it for longer
// than the body idle timeout.
func (g *Gateway) body(r *http.Request) (io.ReadCloser, error) {
	st := requestState(r.Context())
	if st.auth == nil {
		return nil, s3Error("AccessDenied")
	}
	raw := r.Body
	if st.conn != nil && r.Body != nil && r.Body != http.NoBody {
		raw = &idleBody{ReadCloser: r.Body, conn: st.conn, idle: g.opts.BodyIdleTimeout}
	}
	return st.auth.Body(raw)
}

// idleBody moves the connection's read deadline forward before every read,
// so a body may take as long as it likes in all but may not pause longer
// than idle. At a clean end the deadline is cleared, so the request goes on
// undisturbed while the backend commits. After a failure it stays: net/http
// drains up to 256 KiB of an unread body before it answers, and a stalled
// client must not hold that up; the drain fails, and the connection closes
// after the error is sent.
type idleBody struct {
	io.ReadCloser
	conn *http.ResponseController
	idle time.Duration
	done bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	b.conn.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.done = true
		b.conn.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.done = true
		return n, s3Error("RequestTimeout")
	case err != nil:
		b.done = true
	}
	return n, err
}
