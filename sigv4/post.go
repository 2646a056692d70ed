package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"
)

// POSTForm holds the fields that sign a browser form upload (POST Object):
// the base64 policy document and its SigV4 signature.
type POSTForm struct {
	Algorithm     string // x-amz-algorithm
	Credential    string // x-amz-credential
	Date          string // x-amz-date
	Signature     string // x-amz-signature
	Policy        string // policy, base64
	SecurityToken string // x-amz-security-token
}

// VerifyPOST checks a form upload's signature: the HMAC of the base64
// policy document under the signing key of the credential's scope. The
// policy's expiration and conditions are the caller's to enforce; a good
// signature says only who signed the policy.
func (v *Verifier) VerifyPOST(ctx context.Context, f POSTForm) (*Result, error) {
	for _, field := range []struct{ name, value string }{
		{"X-Amz-Algorithm", f.Algorithm}, {"X-Amz-Credential", f.Credential},
		{"X-Amz-Date", f.Date}, {"X-Amz-Signature", f.Signature}, {"Policy", f.Policy},
	} {
		if field.value == "" {
			return nil, newError(CodeInvalidArgument, "Bucket POST must contain a field named '"+field.name+"'.  If it is specified, please check the order of the fields.",
				Field{"ArgumentName", field.name})
		}
	}
	switch f.Algorithm {
	case AlgorithmHMAC:
	case AlgorithmECDSA:
		return nil, sigV4aNotImplemented()
	default:
		return nil, newError(CodeInvalidArgument, `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`, Field{"ArgumentName", "X-Amz-Algorithm"})
	}
	accessKey, scope, err := parseCredential(f.Credential, formQuery)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(scope, formQuery); err != nil {
		return nil, err
	}
	t, ok := parseAmzDate(f.Date)
	if !ok || t.Format(dateLayout) != scope.Date {
		return nil, newError(CodeInvalidArgument, "X-Amz-Date must be in the ISO8601 Long Format and on the credential's date", Field{"ArgumentName", "X-Amz-Date"})
	}
	secret, err := v.secret(ctx, accessKey)
	if err != nil {
		return nil, err
	}
	key := v.keys.signingKey(accessKey, secret, scope)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(f.Policy))
	want := make([]byte, hex.EncodedLen(sha256.Size))
	hex.Encode(want, m.Sum(nil))
	if subtle.ConstantTimeCompare(want, []byte(f.Signature)) != 1 {
		return nil, newError(CodeSignatureDoesNotMatch, msgSignature,
			Field{"AWSAccessKeyId", accessKey},
			Field{"StringToSign", f.Policy},
			Field{"SignatureProvided", f.Signature})
	}
	return &Result{
		Kind:          KindPOST,
		AccessKey:     accessKey,
		Time:          t.In(time.UTC),
		Scope:         scope,
		Signature:     f.Signature,
		PayloadHash:   UnsignedPayload,
		SecurityToken: f.SecurityToken,
		SigningKey:    key,
		DecodedLength: -1,
	}, nil
}
