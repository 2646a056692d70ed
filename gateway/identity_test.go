package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/identity/bearer"
	"github.com/s3gate/s3gate/identity/seal"
	"github.com/s3gate/s3gate/identity/sts"
)

const (
	jwtIssuer   = "https://idp.s3gate.test/"
	jwtAudience = "s3gate"
	roleARN     = "arn:aws:iam::000000000000:role/uploader"
)

// idEnv is a gateway that accepts bearer tokens of one HMAC issuer and
// issues session credentials for role "uploader" (granted to tokens of
// group "staff"), on a clock the test moves.
type idEnv struct {
	*env
	secret []byte
	log    *idLog
	mu     sync.Mutex
	now    time.Time
}

// idLog is the gateway's JSON log, written by the server's goroutines and
// read by the test.
type idLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *idLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *idLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *idLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// authFailures counts the "authentication failed" records of auth kind
// auth by error code, and checks each names the request and its source.
func (l *idLog) authFailures(t *testing.T, auth string) map[string]int {
	t.Helper()
	codes := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if rec["msg"] != "authentication failed" || rec["auth"] != auth {
			continue
		}
		if id, _ := rec["request_id"].(string); id == "" || rec["source"] == nil || rec["level"] != "INFO" {
			t.Errorf("authentication failure record: %s", line)
		}
		code, _ := rec["code"].(string)
		codes[code]++
	}
	return codes
}

// noSecrets fails if the log holds any of secrets, or a long piece of one:
// a JWT's payload or signature alone, or half a session token, is as bad.
func (l *idLog) noSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	log := l.String()
	for _, s := range secrets {
		pieces := []string{s}
		if parts := strings.Split(s, "."); len(parts) == 3 {
			pieces = append(pieces, parts[1], parts[2])
		}
		if len(s) >= 32 {
			pieces = append(pieces, s[:len(s)/2], s[len(s)/2:])
		}
		for _, p := range pieces {
			if strings.Contains(log, p) {
				t.Errorf("the log holds a secret (%.12s...):\n%s", p, log)
				return
			}
		}
	}
}

func (e *idEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *idEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func newIDEnv(t *testing.T) *idEnv {
	t.Helper()
	ie := &idEnv{secret: make([]byte, 32), log: &idLog{}, now: time.Now()}
	rand.Read(ie.secret)
	tokens, err := bearer.New(context.Background(), []bearer.Issuer{{
		Name: "corp", Issuer: jwtIssuer, Audiences: []string{jwtAudience}, HMACSecret: ie.secret,
	}}, bearer.Options{Now: ie.clock})
	if err != nil {
		t.Fatal(err)
	}
	mk := make([]byte, seal.KeySize)
	rand.Read(mk)
	keyring, _ := seal.NewKeyring(mk)
	sessions, err := sts.New(sts.Options{
		Roles:    []sts.Role{{Name: "uploader", Issuers: []string{"corp"}, Conditions: map[string][]string{"groups": {"staff"}}, Roles: []string{"writer"}}},
		Verifier: tokens, Keyring: keyring, ExpiredErr: bearer.ErrExpired, UnreachableErr: bearer.ErrKeysUnavailable, Now: ie.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ie.env = newEnv(t, func(o *Options, _ *backends.Backend) {
		o.Tokens, o.Sessions, o.Now = tokens, sessions, ie.clock
		o.Logger, o.AccessLog = ie.log.logger(), true
	})
	ie.mkBucket("ids")
	return ie
}

// token signs a JWT for subject sub with the given groups, valid for ttl.
func (e *idEnv) token(t *testing.T, sub string, groups []string, ttl time.Duration) string {
	t.Helper()
	now := e.clock()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": jwtIssuer, "aud": jwtAudience, "sub": sub, "groups": groups,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString(e.secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *idEnv) bearerDo(t *testing.T, method, path, token string, body []byte) *http.Response {
	t.Helper()
	r, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (e *idEnv) failures(auth, code string) float64 {
	return testutil.ToFloat64(e.gw.metrics.authFailures.WithLabelValues(auth, code))
}

func TestBearerTokens(t *testing.T) {
	e := newIDEnv(t)
	good := e.token(t, "alice", nil, time.Hour)
	expectStatus(t, e.bearerDo(t, "PUT", "/ids/by-token", good, []byte("hello")), 200)
	if got := expectStatus(t, e.bearerDo(t, "GET", "/ids/by-token", good, nil), 200); string(got) != "hello" {
		t.Fatalf("GET = %q", got)
	}

	// A wrong signature, another audience, garbage: InvalidToken; past
	// its expiry (and the leeway): ExpiredToken. Each failure is counted.
	forged := good[:len(good)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(good, "AA")]
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": jwtIssuer, "aud": "another-service", "sub": "alice", "exp": e.clock().Add(time.Hour).Unix(),
	}).SignedString(e.secret)
	before := e.failures("jwt", "InvalidToken")
	for name, tok := range map[string]string{"forged": forged, "other audience": other, "garbage": "a.b.c"} {
		t.Run(name, func(t *testing.T) {
			expectError(t, e.bearerDo(t, "PUT", "/ids/by-token", tok, []byte("evil")), 400, "InvalidToken")
		})
	}
	if got := e.failures("jwt", "InvalidToken") - before; got != 3 {
		t.Errorf("auth failure metric rose by %v, want 3", got)
	}
	short := e.token(t, "alice", nil, time.Minute)
	e.advance(2 * time.Minute)
	expectError(t, e.bearerDo(t, "GET", "/ids/by-token", short, nil), 400, "ExpiredToken")
	if got := expectStatus(t, e.bearerDo(t, "GET", "/ids/by-token", good, nil), 200); string(got) != "hello" {
		t.Fatalf("the object changed: %q", got)
	}
	// A signed aws-chunked body cannot go with a bearer token.
	r, _ := http.NewRequest("PUT", e.url+"/ids/chunked", strings.NewReader("x"))
	r.Header.Set("Authorization", "Bearer "+good)
	r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	r.Header.Set("X-Amz-Decoded-Content-Length", "1")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 400, "InvalidRequest")
	// A body with a declared hash is still verified.
	r, _ = http.NewRequest("PUT", e.url+"/ids/hashed", strings.NewReader("abc"))
	r.Header.Set("Authorization", "Bearer "+good)
	r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 400, "XAmzContentSHA256Mismatch")

	// Every refused token was logged as a failed authentication, and no
	// token is anywhere in the log.
	codes := e.log.authFailures(t, "jwt")
	if codes["InvalidToken"] != 3 || codes["ExpiredToken"] != 1 || codes["InvalidRequest"] != 1 || len(codes) != 3 {
		t.Errorf("jwt authentication failures logged: %v, want 3 InvalidToken, 1 ExpiredToken, 1 InvalidRequest", codes)
	}
	e.log.noSecrets(t, good, forged, other, short)
}

// assume calls AssumeRoleWithWebIdentity with the AWS SDK's STS client.
func (e *idEnv) assume(t *testing.T, token string) (aws.Credentials, error) {
	t.Helper()
	c := awssts.New(awssts.Options{Region: testRegion, BaseEndpoint: aws.String(e.url), Retryer: aws.NopRetryer{}})
	out, err := c.AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("test"), WebIdentityToken: aws.String(token), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}, nil
}

func (e *idEnv) s3With(c aws.Credentials) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(e.url), UsePathStyle: true, Region: testRegion, Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
	})
}

func TestSessionCredentials(t *testing.T) {
	e := newIDEnv(t)
	ctx := context.Background()
	bobToken, carolToken, daveToken := e.token(t, "bob", []string{"visitors"}, time.Hour), e.token(t, "carol", []string{"staff"}, time.Hour), e.token(t, "dave", []string{"staff"}, time.Hour)
	if _, err := e.assume(t, bobToken); err == nil || !strings.Contains(err.Error(), "IDPRejectedClaim") {
		t.Fatalf("a token outside group staff assumed the role: %v", err)
	}
	creds, err := e.assume(t, carolToken)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SessionToken == "" {
		t.Fatalf("credentials %s", creds.AccessKeyID)
	}
	c := e.s3With(creds)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ids"), Key: aws.String("by-session"), Body: strings.NewReader("temporary")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ids"), Key: aws.String("by-session")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "temporary" {
		t.Fatalf("GET = %q", got)
	}

	// A presigned URL made with session credentials carries the token.
	ps := s3.NewPresignClient(c)
	req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ids"), Key: aws.String("by-session")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.URL, "X-Amz-Security-Token") {
		t.Fatal("presigned URL without the session token")
	}
	resp, err := http.Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	if b := expectStatus(t, resp, 200); string(b) != "temporary" {
		t.Fatalf("presigned GET = %q", b)
	}

	// The token is bound to its key id, cannot be altered, and is not a
	// long-term key's.
	sign := func(c aws.Credentials) *http.Response {
		r, _ := http.NewRequest("GET", e.url+"/ids/by-session", nil)
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, c, r, "UNSIGNED-PAYLOAD", "s3", testRegion, e.clock()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	tampered := creds
	b := []byte(tampered.SessionToken)
	b[len(b)/2] ^= 1
	tampered.SessionToken = string(b)
	expectError(t, sign(tampered), 400, "InvalidToken")
	other, err := e.assume(t, daveToken)
	if err != nil {
		t.Fatal(err)
	}
	swapped := creds
	swapped.SessionToken = other.SessionToken
	expectError(t, sign(swapped), 400, "InvalidToken")
	expectError(t, sign(aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret, SessionToken: creds.SessionToken}), 400, "InvalidToken")
	// The session's secret without its token is no key at all.
	expectError(t, sign(aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}), 403, "InvalidAccessKeyId")

	// After 15 minutes the session has expired.
	e.advance(16 * time.Minute)
	before := e.failures("sts", "ExpiredToken")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ids"), Key: aws.String("by-session")})
	if err == nil || !strings.Contains(err.Error(), "ExpiredToken") {
		t.Fatalf("GET with expired session credentials: %v", err)
	}
	if got := e.failures("sts", "ExpiredToken") - before; got != 1 {
		t.Errorf("ExpiredToken failures rose by %v, want 1", got)
	}
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ExpiredToken" {
		t.Errorf("error code: %v", err)
	}

	// Each refusal was logged as a failed authentication; the session
	// secret without its token is a plain SigV4 failure, logged with the
	// key id it claimed. No session token, secret or web identity token is
	// anywhere in the log.
	if codes := e.log.authFailures(t, "sts"); codes["InvalidToken"] != 3 || codes["ExpiredToken"] != 1 || len(codes) != 2 {
		t.Errorf("sts authentication failures logged: %v, want 3 InvalidToken and 1 ExpiredToken", codes)
	}
	if codes := e.log.authFailures(t, "sigv4"); codes["InvalidAccessKeyId"] != 1 || len(codes) != 1 {
		t.Errorf("sigv4 authentication failures logged: %v, want 1 InvalidAccessKeyId", codes)
	}
	if !strings.Contains(e.log.String(), `"access_key":"`+creds.AccessKeyID+`"`) {
		t.Errorf("no log record names the session's access key id %s", creds.AccessKeyID)
	}
	e.log.noSecrets(t, creds.SecretAccessKey, creds.SessionToken, tampered.SessionToken, other.SecretAccessKey, other.SessionToken,
		bobToken, carolToken, daveToken, testSecret)
}

// Without token issuers or roles, bearer tokens and STS calls are refused
// with their own errors, never mistaken for S3 operations.
func TestIdentityNotConfigured(t *testing.T) {
	e := newEnv(t)
	r, _ := http.NewRequest("POST", e.url+"/", strings.NewReader("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=x&RoleSessionName=s&WebIdentityToken=t"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 501, "NotImplemented")
	// Any other POST to / is no operation: refused (anonymous: before
	// anything else).
	r, _ = http.NewRequest("POST", e.url+"/", strings.NewReader("x"))
	r.Header.Set("Content-Type", "text/plain")
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 403, "AccessDenied")
	expectError(t, e.do(req{method: "POST", path: "/", body: []byte("x")}), 405, "MethodNotAllowed")
}
