package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/policy"
)

// benchGateway is a Gateway over an fs backend holding bucket "bench" with a
// 4 KiB object "k", called in process: the benchmarks measure the
// gateway's own cost per request (routing, authentication, headers, access
// log and metrics), not the network's.
func benchGateway(b *testing.B, authz Authorizer) *Gateway {
	b.Helper()
	store, err := fs.Open(b.TempDir(), fs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	cat, err := catalog.Open(context.Background(), filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cat.Close() })
	keys := identity.NewKeys(identity.AccessKey{ID: testAccessKey, Secret: testSecret, Principal: identity.RootPrincipal()})
	gw := New(store, cat, keys, Options{Region: testRegion, MaxRequests: 64, Authorizer: authz})
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := gw.AdoptBuckets(ctx, identity.RootPrincipal()); err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 4096)
	if _, err := store.PutObject(ctx, "bench", "k", strings.NewReader(body), backends.PutOptions{Size: int64(len(body))}); err != nil {
		b.Fatal(err)
	}
	return gw
}

func benchRequest(b *testing.B, method string, authz Authorizer) {
	gw := benchGateway(b, authz)
	// One signed request, served again and again: s3gate keeps no replay
	// cache, and a signature stays valid for 15 minutes.
	proto := newSignedRequest(b, req{method: method, path: "/bench/k"}, "http://127.0.0.1:9000/bench/k")
	b.ReportAllocs()
	for b.Loop() {
		r := proto.Clone(context.Background())
		r.Body = http.NoBody
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: status %d: %s", method, w.Code, w.Body)
		}
	}
}

func BenchmarkHeadObject(b *testing.B) { benchRequest(b, http.MethodHead, nil) }

// BenchmarkGetObject4KiB runs without a policy and with the built-in one
// (decision cache off, so every request is judged): the difference is what
// the policy costs a request.
func BenchmarkGetObject4KiB(b *testing.B) {
	b.Run("policy=off", func(b *testing.B) { benchRequest(b, http.MethodGet, nil) })
	b.Run("policy=builtin", func(b *testing.B) {
		e, err := policy.New(context.Background(), policy.Options{CacheSize: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		benchRequest(b, http.MethodGet, e)
	})
	b.Run("policy=builtin-cached", func(b *testing.B) {
		e, err := policy.New(context.Background(), policy.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		benchRequest(b, http.MethodGet, e)
	})
}
