package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/bearer"
	"github.com/s3gate/s3gate/identity/sts"
	"github.com/s3gate/s3gate/sigv4"
)

// TokenVerifier checks bearer tokens (JWTs): identity/bearer.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.VerifiedToken, error)
}

// Sessions issues and opens temporary credentials: identity/sts. Its
// ServeHTTP answers AssumeRoleWithWebIdentity.
type Sessions interface {
	http.Handler
	SessionKey(accessKeyID, sessionToken string, now time.Time) (identity.AccessKey, error)
}

// authenticate establishes who sent the request: a SigV4 signature (header
// or presigned URL, with a session token for temporary credentials) or a
// bearer token. Anonymous requests are refused: without a policy that
// grants anonymous access, s3gate denies. Failures are counted and logged,
// without secrets.
func (g *Gateway) authenticate(r *http.Request) error {
	err := g.identify(r)
	if err != nil {
		g.authFailed(r, err)
	}
	return err
}

func (g *Gateway) identify(r *http.Request) error {
	st := requestState(r.Context())
	if raw, ok := bearer.TokenFromAuthorization(r.Header.Get("Authorization")); ok {
		return g.bearer(r, raw)
	}
	st.securityToken = r.Header.Get("X-Amz-Security-Token")
	if st.securityToken == "" {
		st.securityToken = query(r).Get("X-Amz-Security-Token")
	}
	if st.securityToken != "" {
		st.authKind = identity.AuthSTS // so that its failures count as such
	}
	res, err := g.verifier.Verify(r)
	switch {
	case st.authErr != nil:
		return st.authErr // the key lookup's verdict on a session token
	case errors.Is(err, sigv4.ErrNoAuth):
		st.authKind = identity.AuthAnonymous
		if g.opts.Authorizer == nil {
			return s3Error("AccessDenied")
		}
		// The policy decides what anonymous callers may do (a public-read
		// bucket); by default, nothing.
		st.auth, err = unsignedResult(r)
		return err
	case err != nil:
		return err
	case st.securityToken != "" && res.SecurityToken != st.securityToken:
		return s3Error("InvalidToken")
	}
	st.auth = res
	st.accessKey = res.AccessKey
	switch {
	case st.securityToken != "":
		st.authKind = identity.AuthSTS
	case res.Kind == sigv4.KindPresigned:
		st.authKind = identity.AuthPresigned
	default:
		st.authKind = identity.AuthSigV4
	}
	return nil
}

// secret is the verifier's key lookup. It records the key's principal in the
// request state, so a request is looked up once. A request with a session
// token is signed with the session's secret, sealed in the token itself;
// errors the verifier cannot express go to the request state.
func (g *Gateway) secret(ctx context.Context, accessKey string) (string, error) {
	st := requestState(ctx)
	var (
		k   identity.AccessKey
		err error
	)
	if st.securityToken != "" {
		k, err = g.sessionKey(accessKey, st.securityToken)
		if err != nil {
			st.authErr = err
			return "", sigv4.ErrUnknownAccessKey
		}
	} else {
		k, err = g.keys.Lookup(ctx, accessKey)
	}
	if errors.Is(err, identity.ErrUnknownKey) {
		return "", sigv4.ErrUnknownAccessKey
	}
	if err != nil {
		return "", err
	}
	p := k.Principal
	st.principal = &p
	return k.Secret, nil
}

// sessionKey opens temporary credentials.
func (g *Gateway) sessionKey(accessKey, token string) (identity.AccessKey, error) {
	if g.opts.Sessions == nil {
		return identity.AccessKey{}, s3Error("InvalidToken")
	}
	k, err := g.opts.Sessions.SessionKey(accessKey, token, g.now())
	switch {
	case errors.Is(err, sts.ErrExpiredToken):
		return k, s3Error("ExpiredToken")
	case err != nil:
		return k, s3Error("InvalidToken")
	}
	return k, nil
}

// bearer authenticates a request by its JWT. The body is not signed: it is
// taken like an UNSIGNED-PAYLOAD one (a hex x-amz-content-sha256, or an
// unsigned aws-chunked body with a trailing checksum, is still verified).
func (g *Gateway) bearer(r *http.Request, raw string) error {
	st := requestState(r.Context())
	st.authKind = identity.AuthJWT
	if g.opts.Tokens == nil {
		return s3Error("InvalidToken", "Bearer tokens are not accepted here: no token issuer is configured.")
	}
	tok, err := g.opts.Tokens.Verify(r.Context(), raw)
	switch {
	case errors.Is(err, bearer.ErrExpired):
		return s3Error("ExpiredToken")
	case errors.Is(err, bearer.ErrKeysUnavailable):
		return s3Error("ServiceUnavailable", "The token issuer's signing keys could not be fetched; please retry.")
	case err != nil:
		return s3Error("InvalidToken")
	}
	res, err := unsignedResult(r)
	if err != nil {
		return err
	}
	p := tok.Principal
	st.principal, st.auth = &p, res
	return nil
}

// unsignedResult describes the payload of a request that carries no
// signature.
func unsignedResult(r *http.Request) (*sigv4.Result, error) {
	res := &sigv4.Result{PayloadHash: r.Header.Get("X-Amz-Content-Sha256"), DecodedLength: -1}
	switch res.PayloadHash {
	case "":
		res.PayloadHash = sigv4.UnsignedPayload
	case sigv4.StreamingUnsignedTrailer:
		n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, s3Error("MissingContentLength")
		}
		res.DecodedLength = n
		for _, name := range strings.Split(r.Header.Get("X-Amz-Trailer"), ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				res.Trailer = append(res.Trailer, name)
			}
		}
	case sigv4.StreamingPayload, sigv4.StreamingPayloadTrailer, sigv4.StreamingECDSAPayload, sigv4.StreamingECDSAPayloadTrailer:
		return nil, s3Error("InvalidRequest", "A signed aws-chunked body needs a SigV4 signature; with a bearer token send it unsigned.")
	}
	return res, nil
}

// authFailed counts a failed authentication and logs it, naming the
// access key id (never a secret or a token).
func (g *Gateway) authFailed(r *http.Request, err error) {
	st := requestState(r.Context())
	ae, _ := toAPIError(err, st)
	kind := string(st.authKind)
	if kind == "" {
		kind = "sigv4"
	}
	g.metrics.authFailures.WithLabelValues(kind, ae.Code).Inc()
	if st.authKind == identity.AuthAnonymous {
		return // routine: clients probe anonymously before signing
	}
	g.log.InfoContext(r.Context(), "authentication failed", "request_id", st.id, "auth", kind,
		"access_key", accessKeyOf(r), "code", ae.Code, "source", r.RemoteAddr)
}

// accessKeyOf reads the access key id a request claims, for the log.
func accessKeyOf(r *http.Request) string {
	cred := query(r).Get("X-Amz-Credential")
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "AWS4-") {
		_, cred, _ = strings.Cut(a, "Credential=")
	}
	id, _, _ := strings.Cut(cred, "/")
	if len(id) > 128 {
		id = id[:128]
	}
	return id
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
