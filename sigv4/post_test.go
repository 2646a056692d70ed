package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// signPolicy signs a policy as a browser form's page does: the signing key
// of the scope, HMAC over the base64 document.
func signPolicy(secret, date, region, policy string) string {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	k = hmacSHA256(k, "aws4_request")
	m := hmac.New(sha256.New, k)
	m.Write([]byte(policy))
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifyPOST(t *testing.T) {
	v := &Verifier{Region: "us-east-1", Secret: func(_ context.Context, ak string) (string, error) {
		if ak != "AKIDPOST" {
			return "", ErrUnknownAccessKey
		}
		return "post-secret", nil
	}}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	policy := base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2026-11-28T00:00:00Z","conditions":[{"bucket":"b"}]}`))
	good := POSTForm{
		Algorithm:  AlgorithmHMAC,
		Credential: "AKIDPOST/20261127/us-east-1/s3/aws4_request",
		Date:       now.Format(amzDateLayout),
		Policy:     policy,
		Signature:  signPolicy("post-secret", "20261127", "us-east-1", policy),
	}
	res, err := v.VerifyPOST(context.Background(), good)
	if err != nil || res.Kind != KindPOST || res.AccessKey != "AKIDPOST" {
		t.Fatalf("good form: %+v %v", res, err)
	}
	cases := []struct {
		name string
		edit func(*POSTForm)
		code string
	}{
		{"policy changed", func(f *POSTForm) { f.Policy = base64.StdEncoding.EncodeToString([]byte(`{"conditions":[]}`)) }, CodeSignatureDoesNotMatch},
		{"signature flipped", func(f *POSTForm) { f.Signature = signPolicy("other", "20261127", "us-east-1", policy) }, CodeSignatureDoesNotMatch},
		{"unknown key", func(f *POSTForm) { f.Credential = "AKIDNOPE/20261127/us-east-1/s3/aws4_request" }, CodeInvalidAccessKeyID},
		{"wrong region", func(f *POSTForm) { f.Credential = "AKIDPOST/20261127/eu-west-1/s3/aws4_request" }, CodeAuthorizationQueryParametersError},
		{"date off scope", func(f *POSTForm) { f.Date = "20261126T120000Z" }, CodeInvalidArgument},
		{"no signature", func(f *POSTForm) { f.Signature = "" }, CodeInvalidArgument},
		{"no policy", func(f *POSTForm) { f.Policy = "" }, CodeInvalidArgument},
		{"SigV2 algorithm", func(f *POSTForm) { f.Algorithm = "AWS" }, CodeInvalidArgument},
	}
	for _, c := range cases {
		f := good
		c.edit(&f)
		_, err := v.VerifyPOST(context.Background(), f)
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}
