package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// corpIssuer is the config file's jwt section for issuer "corp", whose
// tokens tests sign with secret (HS256).
func corpIssuer(secret string) string {
	return `jwt:
  issuers:
    - name: corp
      issuer: https://idp.s3gate.test/
      audiences: [s3gate]
      hmac_secret: "` + secret + `"
`
}

// TestAWSCLIWebIdentity: a user with a token from an identity provider
// gets temporary credentials with `aws sts assume-role-with-web-identity`
// and uses them with `aws s3 cp`, as they would against AWS.
func TestAWSCLIWebIdentity(t *testing.T) {
	t.Parallel()
	awsBin := requireTool(t, "aws")
	secret := randomHex(32)
	cfg := filepath.Join(t.TempDir(), "s3gate.yaml")
	writeFile(t, cfg, []byte(corpIssuer(secret)+`sts:
  roles:
    - name: uploader
      issuers: [corp]
      conditions: {groups: [staff]}
      roles: [writer]
`))
	s := startServerOpts(t, serverOptions{Args: []string{"--config", cfg}})
	work := t.TempDir()
	root := clientEnv(t, s, "AWS_MAX_ATTEMPTS=1")
	bucket := newBucketName(t)
	runTool(t, root, work, awsBin, "--endpoint-url", s.S3URL, "s3", "mb", "s3://"+bucket)

	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://idp.s3gate.test/", "aud": "s3gate", "sub": "ci-user", "groups": []string{"staff"},
		"iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	// No credentials at all: the call is unsigned, the token is the proof.
	out := runTool(t, clientEnv(t, nil, "AWS_DEFAULT_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1"), work, awsBin,
		"--endpoint-url", s.S3URL, "--output", "json", "sts", "assume-role-with-web-identity",
		"--role-arn", "arn:aws:iam::000000000000:role/uploader", "--role-session-name", "ci",
		"--web-identity-token", token, "--duration-seconds", "900")
	var resp struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("aws sts output is not JSON: %v\n%s", err, out)
	}
	c := resp.Credentials
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || exp.Before(time.Now().Add(10*time.Minute)) || exp.After(time.Now().Add(16*time.Minute)) {
		t.Fatalf("Expiration %q, want about 15 minutes from now (%v)", c.Expiration, err)
	}
	session := clientEnv(t, nil, "AWS_DEFAULT_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1",
		"AWS_ACCESS_KEY_ID="+c.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey, "AWS_SESSION_TOKEN="+c.SessionToken)
	data := testData("web-identity", 3<<20) // large enough for an aws-chunked or multipart upload
	writeFile(t, filepath.Join(work, "up.bin"), data)
	runTool(t, session, work, awsBin, "--endpoint-url", s.S3URL, "s3", "cp", "up.bin", "s3://"+bucket+"/from-session.bin")
	runTool(t, session, work, awsBin, "--endpoint-url", s.S3URL, "s3", "cp", "s3://"+bucket+"/from-session.bin", "down.bin")
	got, err := os.ReadFile(filepath.Join(work, "down.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(got) != sha256Hex(data) {
		t.Fatalf("round trip with session credentials: %d bytes, want %d", len(got), len(data))
	}
	rec := s.waitAccess(t, "a PutObject signed with session credentials", func(r accessRecord) bool {
		return r.Op == "PutObject" && r.Key == "from-session.bin" && r.Status == 200
	})
	if rec.fields["auth"] != "sts" || rec.fields["principal"] != "corp:ci-user" {
		t.Errorf("access log: auth %v principal %v, want sts and corp:ci-user", rec.fields["auth"], rec.fields["principal"])
	}

	// A forged token is refused with STS's own error.
	if out, err := runToolErr(t, clientEnv(t, nil, "AWS_DEFAULT_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1"), work, awsBin,
		"--endpoint-url", s.S3URL, "sts", "assume-role-with-web-identity",
		"--role-arn", "arn:aws:iam::000000000000:role/uploader", "--role-session-name", "ci",
		"--web-identity-token", token[:len(token)-4]+"AAAA"); err == nil || !strings.Contains(out, "InvalidIdentityToken") {
		t.Errorf("a forged token: err %v, output:\n%s", err, out)
	}
}
