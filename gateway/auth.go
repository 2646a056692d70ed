package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"

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
// payload hash as it streams.
func (g *Gateway) body(r *http.Request) (io.ReadCloser, error) {
	st := requestState(r.Context())
	if st.auth == nil {
		return nil, s3Error("AccessDenied")
	}
	return st.auth.Body(r.Body)
}
