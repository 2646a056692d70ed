package conformance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// testPKI is a test's own CA and the server certificate files s3gate is
// given: CertFile and KeyFile hold the certificate issue wrote last.
type testPKI struct {
	CAFile   string // PEM CA certificate, for AWS_CA_BUNDLE
	CertFile string
	KeyFile  string
	Pool     *x509.CertPool

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// newTestPKI makes a CA in a temporary directory and issues a first server
// certificate (serial 1) for 127.0.0.1.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "s3gate conformance CA " + randomHex(4)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server-key.pem"),
		Pool:     x509.NewCertPool(),
		ca:       ca,
		caKey:    key,
	}
	p.Pool.AddCert(ca)
	writeFile(t, p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	p.install(t, p.issue(t, 1))
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pemPair is a PEM certificate and its PEM private key.
type pemPair struct{ cert, key []byte }

// issue makes a server certificate for 127.0.0.1 (and localhost) with the
// given serial number, signed by the CA.
func (p *testPKI) issue(t *testing.T, serial int64) pemPair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemPair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// install replaces the server's certificate files, each with one rename,
// as a certificate manager would.
func (p *testPKI) install(t *testing.T, pair pemPair) {
	t.Helper()
	for path, data := range map[string][]byte{p.CertFile: pair.cert, p.KeyFile: pair.key} {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
}

// client is an HTTP client that trusts only the test CA.
func (p *testPKI) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		TLSClientConfig:     &tls.Config{RootCAs: p.Pool},
	}}
}

// servedSerial makes a new TLS connection to an https URL and returns the
// serial number of the certificate presented, after verifying it against
// the test CA.
func (p *testPKI) servedSerial(t *testing.T, rawURL string) int64 {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", u.Host, &tls.Config{RootCAs: p.Pool})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", u.Host, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSServe: with a certificate, the S3 listener speaks https only
// (TLS 1.2 and later, HTTP/1.1), S3 works through it, and the ops listener
// stays plain http.
func TestTLSServe(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := startServerOpts(t, serverOptions{TLS: pki})
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	data := testData("tls-serve", 100<<10)
	putObject(t, c, bucket, "over-tls", data)
	if got, _ := getObject(t, c, bucket, "over-tls"); sha256Hex(got) != sha256Hex(data) {
		t.Errorf("GetObject over https: %d bytes, sha256 %s, want %s", len(got), sha256Hex(got), sha256Hex(data))
	}

	host := strings.TrimPrefix(s.S3URL, "https://")
	for _, v := range []struct {
		version uint16
		name    string
		ok      bool
	}{{tls.VersionTLS10, "1.0", false}, {tls.VersionTLS11, "1.1", false}, {tls.VersionTLS12, "1.2", true}, {tls.VersionTLS13, "1.3", true}} {
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pki.Pool, MinVersion: v.version, MaxVersion: v.version, NextProtos: []string{"h2", "http/1.1"}})
		if err == nil {
			if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
				t.Errorf("TLS %s: negotiated %q, want HTTP/1.1 only", v.name, p)
			}
			conn.Close()
		}
		if (err == nil) != v.ok {
			t.Errorf("TLS %s handshake: error %v, want success %v", v.name, err, v.ok)
		}
	}
	// A client that does not trust the CA is refused by its own check.
	if conn, err := tls.Dial("tcp", host, &tls.Config{}); err == nil {
		conn.Close()
		t.Errorf("a TLS client without the test CA accepted s3gate's certificate")
	}

	resp, err := httpClient.Get("http://" + host + "/")
	if err == nil {
		body := readBody(t, resp)
		if resp.StatusCode < 400 {
			t.Errorf("plain http to the https listener: %d %q, want a refusal", resp.StatusCode, body)
		}
	}
	resp, err = httpClient.Get(s.OpsURL + "/health")
	if err != nil {
		t.Fatalf("GET %s/health (plain http): %v", s.OpsURL, err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/health: %d, want 200", s.OpsURL, resp.StatusCode)
	}
}

// TestTLSReload: SIGHUP makes new connections get the replaced certificate;
// a replacement that does not load leaves the old one serving, and s3gate
// keeps running either way.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := startServerOpts(t, serverOptions{TLS: pki})
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)

	if got := pki.servedSerial(t, s.S3URL); got != 1 {
		t.Fatalf("serves serial %d, want 1", got)
	}
	// hup sends SIGHUP and waits for the log line that ends the reload.
	hup := func(wantLog string) {
		t.Helper()
		before := strings.Count(s.stderr.String(), wantLog)
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.stderr.String(), wantLog) == before {
			if time.Now().After(deadline) {
				t.Fatalf("no log line %q within 10s of SIGHUP; stderr:\n%s", wantLog, tailLines(s.stderr.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const loaded, failed = `"msg":"tls certificate loaded"`, `"msg":"tls certificate reload failed`

	// A keep-alive connection made before the reload keeps working.
	putObject(t, c, bucket, "before", []byte("before the reload"))

	b := pki.issue(t, 2)
	pki.install(t, b)
	hup(loaded)
	if got := pki.servedSerial(t, s.S3URL); got != 2 {
		t.Fatalf("after SIGHUP: serves serial %d, want 2", got)
	}
	putObject(t, c, bucket, "after", []byte("after the reload"))
	fresh := newS3Client(s.S3URL, s.AccessKey, s.SecretKey, func(o *s3.Options) { o.HTTPClient = pki.client() })
	if got, _ := getObject(t, fresh, bucket, "before"); string(got) != "before the reload" {
		t.Errorf("a new client after the reload reads %q", got)
	}

	for _, bad := range []struct {
		name string
		pair pemPair
	}{
		{"garbage", pemPair{[]byte("not a certificate\n"), []byte("not a key\n")}},
		{"key of another certificate", pemPair{pki.issue(t, 3).cert, b.key}},
		{"certificate cut short", pemPair{b.cert[:len(b.cert)/2], b.key}},
	} {
		pki.install(t, bad.pair)
		hup(failed)
		if got := pki.servedSerial(t, s.S3URL); got != 2 {
			t.Errorf("%s: after a failed reload serves serial %d, want 2 still", bad.name, got)
		}
		if _, err := fresh.ListBuckets(testContext(t), &s3.ListBucketsInput{}); err != nil {
			t.Errorf("%s: ListBuckets after a failed reload: %v", bad.name, err)
		}
	}
	if log := s.stderr.String(); !strings.Contains(log, "tls.cert_file") {
		t.Errorf("the reload errors do not name tls.cert_file:\n%s", tailLines(log, 10))
	}

	pki.install(t, pki.issue(t, 4))
	hup(loaded)
	if got := pki.servedSerial(t, s.S3URL); got != 4 {
		t.Errorf("after a good replacement: serves serial %d, want 4", got)
	}
	if _, err := c.HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("after")}); err != nil {
		t.Errorf("HeadObject after the reloads: %v", err)
	}
	// Cleanup's stop requires a clean exit: SIGHUP must not have ended it.
}

// TestTLSInvalidConfiguration: a certificate without a key, or a pair that
// does not load, stops s3gate before it serves, naming the setting.
func TestTLSInvalidConfiguration(t *testing.T) {
	t.Parallel()
	bin := s3gateBinary(t)
	pki := newTestPKI(t)
	other := filepath.Join(t.TempDir(), "other.pem")
	writeFile(t, other, pki.issue(t, 9).cert)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		env  []string
		want []string
	}{
		{[]string{"S3GATE_TLS_CERT_FILE=" + pki.CertFile}, []string{"tls.key_file", "S3GATE_TLS_KEY_FILE"}},
		{[]string{"S3GATE_TLS_KEY_FILE=" + pki.KeyFile}, []string{"tls.cert_file", "S3GATE_TLS_CERT_FILE"}},
		{[]string{"S3GATE_TLS_CERT_FILE=" + missing, "S3GATE_TLS_KEY_FILE=" + pki.KeyFile}, []string{"tls.cert_file", missing}},
		{[]string{"S3GATE_TLS_CERT_FILE=" + pki.CertFile, "S3GATE_TLS_KEY_FILE=" + missing}, []string{"tls.key_file", missing}},
		{[]string{"S3GATE_TLS_CERT_FILE=" + other, "S3GATE_TLS_KEY_FILE=" + pki.KeyFile}, []string{"tls.cert_file", "does not match"}},
	}
	for _, c := range cases {
		out, code := runS3gate(t, bin, c.env)
		if code == 0 {
			t.Errorf("%v: exit 0, want non-zero\n%s", c.env, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output does not name %q:\n%s", c.env, w, out)
			}
		}
	}
}

// runS3gate runs `s3gate serve` on free ports with extra environment and
// returns its output and exit code; it is for settings that stop it.
func runS3gate(t *testing.T, bin string, env []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("s3gate still running after 30s; a bad setting must stop it:\n%s", out)
	}
	if exit, ok := errorsAs[*exec.ExitError](err); ok {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("running s3gate: %v", err)
	}
	return string(out), 0
}
