package s3

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// selfSigned makes a certificate for 127.0.0.1 and returns it with its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "s3gate test backend"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newTLSRelay is a relay that serves https in front of the test versitygw
// (which speaks plain http): the backend as an https endpoint.
func newTLSRelay(t *testing.T, cert tls.Certificate) (endpoint string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}),
		target: strings.TrimPrefix(vgw.endpoint, "http://"), conns: map[net.Conn]bool{}}
	r.wg.Go(r.serve)
	t.Cleanup(r.close)
	return "https://" + ln.Addr().String()
}

// TestTLSEndpoint: an https backend is reached with the CA of CAFile (or,
// for tests, InsecureSkipVerify), and refused when its certificate is
// not trusted.
func TestTLSEndpoint(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	cert, certPEM := selfSigned(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	endpoint := newTLSRelay(t, cert)
	open := func(t *testing.T, mutate func(*Options)) *Store {
		opts := testOptions(nil)
		opts.Endpoint = endpoint
		mutate(&opts)
		s, err := New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	bkt := namespace() + "-tls"
	t.Run("CAFile", func(t *testing.T) {
		s := open(t, func(o *Options) { o.CAFile = caFile })
		if err := s.CreateBucket(t.Context(), bkt); err != nil {
			t.Fatalf("CreateBucket over https: %v", err)
		}
		big := genBytes(12, 1<<20) // streamed (aws-chunked) over TLS
		mustPut(t, s, bkt, "big", big)
		if got := mustGet(t, s, bkt, "big"); string(got) != string(big) {
			t.Errorf("GET over https: %d bytes, want %d", len(got), len(big))
		}
	})
	t.Run("InsecureSkipVerify", func(t *testing.T) {
		s := open(t, func(o *Options) { o.InsecureSkipVerify = true })
		if _, err := s.HeadObject(t.Context(), bkt, "big", backends.GetOptions{}); err != nil {
			t.Errorf("HeadObject with InsecureSkipVerify: %v", err)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		s := open(t, func(*Options) {})
		_, err := s.HeadObject(t.Context(), bkt, "big", backends.GetOptions{})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("HeadObject with an untrusted certificate: %v, want a certificate error", err)
		}
	})
}

// TestAddressing: with PathStyle the bucket is the path's first segment;
// without, it is the first label of the host (virtual-hosted style).
func TestAddressing(t *testing.T) {
	t.Parallel()
	type seen struct{ host, path string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Host, r.URL.Path})
		mu.Unlock()
		w.Header().Set("ETag", `"900150983cd24fb0d6963f7d28e17f72"`)
		w.Header().Set("Content-Length", "3")
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		pathStyle bool
		want      seen
	}{
		{true, seen{"backend.test:" + strconv.Itoa(port), "/photos/a/b.jpg"}},
		{false, seen{"photos.backend.test:" + strconv.Itoa(port), "/a/b.jpg"}},
	} {
		s, err := New(t.Context(), Options{Endpoint: "http://backend.test:" + strconv.Itoa(port), AccessKey: "a", SecretKey: "b", PathStyle: tc.pathStyle})
		if err != nil {
			t.Fatal(err)
		}
		// Every name resolves to the fake server: no DNS is asked.
		s.tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		}
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, err := s.HeadObject(t.Context(), "photos", "a/b.jpg", backends.GetOptions{}); err != nil {
			t.Fatalf("PathStyle %v: HeadObject: %v", tc.pathStyle, err)
		}
		mu.Lock()
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("PathStyle %v: requests %+v, want %+v", tc.pathStyle, got, tc.want)
		}
		mu.Unlock()
		s.Close()
	}
}

// TestDefaultCredentials: Credentials "default" takes the SDK's chain (here
// a shared credentials file), even where AWS_CA_BUNDLE is set, which the
// SDK applies to the chain's own HTTP client.
func TestDefaultCredentials(t *testing.T) {
	needVersitygw(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+testAccess+"\naws_secret_access_key = "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, certPEM := selfSigned(t)
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CA_BUNDLE", bundle)
	opts := testOptions(nil)
	opts.Credentials, opts.AccessKey, opts.SecretKey = CredentialsDefault, "", ""
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New with the default chain: %v", err)
	}
	defer s.Close()
	if _, err := s.ListBuckets(t.Context()); err != nil {
		t.Errorf("ListBuckets with credentials from the default chain: %v", err)
	}

	// A wrong secret in the chain is the backend's refusal, not a
	// missing-credentials error at New.
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+testAccess+"\naws_secret_access_key = wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.ListBuckets(t.Context()); err == nil || errors.Is(err, backends.ErrBackendUnavailable) {
		t.Errorf("ListBuckets with a wrong secret: %v, want the backend's refusal", err)
	}
}

// TestNamedCapabilities: the configuration's names map to the declared
// capabilities; the default (no Options.Capabilities) is full S3.
func TestNamedCapabilities(t *testing.T) {
	for name, want := range map[string]backends.Capabilities{"": S3Capabilities, "s3": S3Capabilities, "versitygw": VersitygwCapabilities} {
		got, err := NamedCapabilities(name)
		if err != nil || got != want {
			t.Errorf("NamedCapabilities(%q) = %+v, %v", name, got, err)
		}
	}
	if _, err := NamedCapabilities("minio"); err == nil {
		t.Error("NamedCapabilities(minio): no error")
	}
	s, err := New(t.Context(), Options{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if caps := s.Capabilities(""); caps != S3Capabilities || caps.Limits.PathKeys {
		t.Errorf("default capabilities %+v, want S3Capabilities", caps)
	}
}
