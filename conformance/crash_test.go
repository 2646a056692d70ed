package conformance

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// holdingProxy stands between s3gate and its backend. A PUT of a key
// containing "hold-after" is forwarded and committed by the backend, but
// its answer is held back; one of a key containing "hold-before" is held
// before it is forwarded. This opens the two crash windows of a write.
type holdingProxy struct {
	srv      *httptest.Server
	mu       sync.Mutex
	held     map[string]chan struct{} // key -> closed once the request reached the hold
	release  chan struct{}
	released bool
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{held: map[string]chan struct{}{}, release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "hold-before") {
			p.reached(r.URL.Path)
			<-p.release
			return // the backend never sees it
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "hold-after") {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			p.reached(r.URL.Path)
			<-p.release
			return // the answer never reaches s3gate
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.open()
		p.srv.Close()
	})
	return p
}

func (p *holdingProxy) reached(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.waiter(path)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (p *holdingProxy) waiter(path string) chan struct{} {
	key := path[strings.LastIndex(path, "/")+1:]
	if p.held[key] == nil {
		p.held[key] = make(chan struct{})
	}
	return p.held[key]
}

// wait blocks until a request for key reached its hold.
func (p *holdingProxy) wait(t *testing.T, key string) {
	t.Helper()
	p.mu.Lock()
	ch := p.waiter("/" + key)
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("no PUT of %s reached the proxy", key)
	}
}

// open lets held requests go (their connections are long dead by then).
func (p *holdingProxy) open() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.released {
		p.released = true
		close(p.release)
	}
}

// TestHooksSurviveSIGKILL: s3gate killed after the backend committed a
// write but before it answered the client emits the write's event when it
// starts again; a write killed before it reached the backend emits none.
func TestHooksSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	o := startOrigin(t)
	proxy := newHoldingProxy(t, o.URL)
	cfg := filepath.Join(t.TempDir(), "s3gate.yaml")
	body := fmt.Sprintf(`default_backend: origin
backends:
  - name: origin
    type: s3
    capabilities: versitygw
    endpoint: %s
    region: us-east-1
    path_style: true
    access_key: %s
    secret_key: %s
`, proxy.srv.URL, o.AccessKey, o.SecretKey)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	opts := serverOptions{DataDir: dataDir, Args: []string{"--config", cfg}}
	s := startServerOpts(t, opts)
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	ctx := testContext(t)
	putAsync := func(key string) {
		go func() {
			reqCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c.PutObject(reqCtx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("payload of " + key))})
		}()
	}
	putAsync("hold-after")
	putAsync("hold-before")
	proxy.wait(t, "hold-after")
	proxy.wait(t, "hold-before")
	// The backend has the first object; s3gate has not heard so.
	originClient := newS3Client(o.URL, o.AccessKey, o.SecretKey)
	if _, err := originClient.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("hold-after")}); err != nil {
		t.Fatalf("the backend does not have the held write: %v", err)
	}
	s.kill(t)
	proxy.open()

	s = startServerOpts(t, opts)
	// A write after the restart: once its row is there, the recovered
	// intents have been settled too (they are published first).
	if _, err := s.client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("after"), Body: strings.NewReader("after")}); err != nil {
		t.Fatal(err)
	}
	waitCatalogueMatches(t, s, bucket)
	rows := s.catalogue(t, bucket)
	if _, ok := rows["hold-after"]; !ok {
		t.Fatalf("the write the backend committed before the crash has no catalogue row: %v", rows)
	}
	if _, ok := rows["hold-before"]; ok {
		t.Fatalf("the write that never reached the backend has a row")
	}
	s.waitLog(t, "the recovery of the unfinished writes", func(rec map[string]any) bool { return rec["msg"] == "event outbox recovered" })
}
