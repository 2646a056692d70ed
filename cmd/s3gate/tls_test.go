package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/config"
)

// testCA signs server certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "s3gate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a PEM certificate for 127.0.0.1 with the given serial, and
// its PEM key.
func (ca *testCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// writePair writes a certificate and key in dir and returns the settings
// naming them.
func writePair(t *testing.T, dir string, certPEM, keyPEM []byte) config.TLS {
	t.Helper()
	files := config.TLS{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(files.CertFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return files
}

// servedSerial makes a new TLS connection and returns the serial number of
// the certificate the server presents.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// lockedBuffer is a bytes.Buffer for one writer and concurrent readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls until cond holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCertReload: a reload swaps the certificate for new handshakes, and a
// reload that fails keeps the one in use.
func TestCertReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certA, keyA := ca.issue(t, 1001)
	files := writePair(t, dir, certA, keyA)
	var logs lockedBuffer
	r, err := newCertReloader(files, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.watch(ctx, hup); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// reload signals watch and waits for the log line that ends a reload.
	reload := func(wantLog string) {
		t.Helper()
		before := strings.Count(logs.String(), wantLog)
		hup <- os.Interrupt
		waitFor(t, "a log line "+wantLog, func() bool { return strings.Count(logs.String(), wantLog) > before })
	}
	const loaded, failed = "tls certificate loaded", "tls certificate reload failed"

	if got := servedSerial(t, addr, ca.pool); got != 1001 {
		t.Fatalf("serves serial %d, want 1001", got)
	}
	// A connection open across the reload keeps its certificate.
	open, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	certB, keyB := ca.issue(t, 1002)
	writePair(t, dir, certB, keyB)
	reload(loaded)
	if got := servedSerial(t, addr, ca.pool); got != 1002 {
		t.Fatalf("after reload: serves serial %d, want 1002", got)
	}
	if got := open.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 1001 {
		t.Errorf("the connection made before the reload reports serial %d, want 1001", got)
	}

	for _, bad := range []struct {
		name      string
		cert, key []byte
	}{
		{"garbage", []byte("not a certificate"), []byte("not a key")},
		{"key of another certificate", certA, keyB},
		{"truncated certificate", certB[:len(certB)/2], keyB},
	} {
		writePair(t, dir, bad.cert, bad.key)
		reload(failed)
		if got := servedSerial(t, addr, ca.pool); got != 1002 {
			t.Errorf("%s: after a failed reload serves serial %d, want 1002 still", bad.name, got)
		}
	}
	if !strings.Contains(logs.String(), "tls.cert_file") {
		t.Errorf("reload errors do not name the setting tls.cert_file:\n%s", logs.String())
	}

	// Removing the files is a failed reload too.
	os.Remove(files.CertFile)
	reload(failed)
	if got := servedSerial(t, addr, ca.pool); got != 1002 {
		t.Errorf("after the files vanished: serves serial %d, want 1002 still", got)
	}
}

// TestTLSVersions: TLS 1.2 and 1.3 handshake, older versions are refused,
// and only HTTP/1.1 is offered.
func TestTLSVersions(t *testing.T) {
	ca := newTestCA(t)
	cert, key := ca.issue(t, 7)
	r, err := newCertReloader(writePair(t, t.TempDir(), cert, key), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.tlsConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	for _, v := range []struct {
		version uint16
		ok      bool
	}{{tls.VersionTLS10, false}, {tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.pool, MinVersion: v.version, MaxVersion: v.version})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != v.ok {
			t.Errorf("TLS version %x: handshake error %v, want success %v", v.version, err, v.ok)
		}
	}
	// TLS 1.2 without forward secrecy or with CBC is refused.
	for _, suite := range []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA} {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			conn.Close()
			t.Errorf("TLS 1.2 with %s: handshake succeeded, want a refusal", tls.CipherSuiteName(suite))
		}
	}
}

// TestTLSSettings: both files or neither, and a pair that does not load
// stops s3gate with the setting named.
func TestTLSSettings(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	cert, key := ca.issue(t, 9)
	good := writePair(t, dir, cert, key)
	other, _ := ca.issue(t, 10)
	mismatched := filepath.Join(dir, "other.pem")
	if err := os.WriteFile(mismatched, other, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	s, err := parse(t, map[string]string{"S3GATE_TLS_CERT_FILE": good.CertFile, "S3GATE_TLS_KEY_FILE": good.KeyFile})
	if err != nil || s.Config.TLS != good {
		t.Fatalf("a valid pair from the environment: %v %+v", err, s.Config.TLS)
	}
	s, err = parse(t, nil, "--config", writeFile(t, "tls:\n  cert_file: "+good.CertFile+"\n  key_file: "+good.KeyFile+"\n"))
	if err != nil || s.Config.TLS != good {
		t.Fatalf("a valid pair from YAML: %v %+v", err, s.Config.TLS)
	}

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"cert only", []string{"--tls-cert-file", good.CertFile}, []string{"tls.key_file", "--tls-key-file", "S3GATE_TLS_KEY_FILE", "neither"}},
		{"key only", []string{"--tls-key-file", good.KeyFile}, []string{"tls.cert_file", "--tls-cert-file", "S3GATE_TLS_CERT_FILE"}},
		{"missing cert", []string{"--tls-cert-file", missing, "--tls-key-file", good.KeyFile}, []string{"tls.cert_file", missing}},
		{"missing key", []string{"--tls-cert-file", good.CertFile, "--tls-key-file", missing}, []string{"tls.key_file", missing}},
		{"key of another certificate", []string{"--tls-cert-file", mismatched, "--tls-key-file", good.KeyFile}, []string{"tls.cert_file", "tls.key_file", "does not match"}},
		{"not PEM", []string{"--tls-cert-file", good.KeyFile, "--tls-key-file", good.KeyFile}, []string{"tls.cert_file", "certificate"}},
	}
	for _, c := range cases {
		_, err := parse(t, nil, c.args...)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

// TestServeTLS runs serve with a certificate: the ready line names an https
// S3 URL that answers S3 over TLS, and the ops listener stays plain http.
func TestServeTLS(t *testing.T) {
	ca := newTestCA(t)
	cert, key := ca.issue(t, 42)
	cfg := config.Config{
		DataDir:   filepath.Join(t.TempDir(), "data"),
		Listen:    "127.0.0.1:0",
		OpsListen: "127.0.0.1:0",
		Region:    "us-east-1",
		Root:      config.Root{AccessKey: "AKTLSTEST", SecretKey: "tls-test-secret"},
		Log:       config.Log{Level: "info", Format: "json", Access: true},
		HTTP: config.HTTP{ReadHeaderTimeout: 5 * time.Second, BodyIdleTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
			MaxHeaderBytes: 64 << 10, MaxRequests: 16, ShutdownTimeout: 5 * time.Second},
		TLS:            writePair(t, t.TempDir(), cert, key),
		Multipart:      config.Multipart{Expiry: time.Hour, SweepInterval: time.Hour},
		DefaultBackend: config.DefaultFS,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, io.Discard, &stderr) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	}()

	var ready struct{ S3, Ops string }
	waitFor(t, `the "s3gate ready" line`, func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "s3gate ready" {
				ready.S3, _ = rec["s3"].(string)
				ready.Ops, _ = rec["ops"].(string)
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(ready.S3, "https://127.0.0.1:") || !strings.HasPrefix(ready.Ops, "http://127.0.0.1:") {
		t.Fatalf("ready line: s3 %q ops %q, want an https S3 URL and an http ops URL", ready.S3, ready.Ops)
	}
	if !strings.Contains(stderr.String(), `"serial":"2a"`) {
		t.Errorf("no log line names the loaded certificate (serial 2a):\n%s", stderr.String())
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(ready.S3 + "/")
	if err != nil {
		t.Fatalf("GET %s/: %v", ready.S3, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("<Code>AccessDenied</Code>")) {
		t.Errorf("anonymous GET over https: %d %s, want 403 AccessDenied", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 1 || resp.TLS == nil || resp.TLS.NegotiatedProtocol == "h2" {
		t.Errorf("S3 over https: protocol %s, want HTTP/1.1", resp.Proto)
	}

	// Plain http to the TLS listener is refused.
	resp, err = http.Get(strings.Replace(ready.S3, "https://", "http://", 1) + "/")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain http to the TLS listener: %d %s, want a refusal", resp.StatusCode, body)
		}
	}

	resp, err = http.Get(ready.Ops + "/health")
	if err != nil {
		t.Fatalf("GET %s/health over plain http: %v", ready.Ops, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health: %d, want 200", resp.StatusCode)
	}
}

// TestServeBadPairFails: serve stops at once when the pair does not load,
// even if it was fine when the settings were validated.
func TestServeBadPairFails(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", OpsListen: "127.0.0.1:0", Region: "us-east-1",
		Root: config.Root{AccessKey: "AKTLSTEST", SecretKey: "tls-test-secret"},
		Log:  config.Log{Level: "info", Format: "json"},
		HTTP: config.HTTP{ReadHeaderTimeout: time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 64 << 10, MaxRequests: 1},
		TLS:  config.TLS{CertFile: filepath.Join(dir, "gone.pem"), KeyFile: filepath.Join(dir, "gone-key.pem")},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := serve(ctx, cfg, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "tls.cert_file") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("serve with a missing certificate: %v, want an error naming tls.cert_file", err)
	}
}
