package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/analytics"
)

// Sleeps of the fakes below. The backend's make the lower bound of what is
// counted; half the client's is the margin allowed above it for sleeps
// that overrun, well short of the client's time, which must not count.
const (
	backendCall  = 20 * time.Millisecond // per call
	backendRead  = 5 * time.Millisecond  // per chunk stored or read
	clientPause  = 25 * time.Millisecond // per client Read or Write
	bodyChunks   = 4
	backendTotal = backendCall + bodyChunks*backendRead
	clientTotal  = bodyChunks * clientPause
)

// sleepyBackend takes backendCall per call, and backendRead per chunk of
// a body it stores or returns. Only the methods below are called; the
// embedded nil Backend fills the method set.
type sleepyBackend struct {
	backends.Backend
	// writerTo makes GetObject's body an io.WriterTo.
	writerTo bool
}

func (b *sleepyBackend) store(body io.Reader) error {
	if body == nil {
		return nil
	}
	buf := make([]byte, 1)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			time.Sleep(backendRead)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (b *sleepyBackend) PutObject(_ context.Context, _, key string, body io.Reader, _ backends.PutOptions) (backends.ObjectInfo, error) {
	time.Sleep(backendCall)
	return backends.ObjectInfo{Key: key}, b.store(body)
}

func (b *sleepyBackend) UploadPart(_ context.Context, _, _, _ string, n int, body io.Reader, _ backends.PartOptions) (backends.PartInfo, error) {
	time.Sleep(backendCall)
	return backends.PartInfo{Number: n}, b.store(body)
}

func (b *sleepyBackend) HeadObject(_ context.Context, _, key string, _ backends.GetOptions) (backends.ObjectInfo, error) {
	time.Sleep(backendCall)
	return backends.ObjectInfo{Key: key}, nil
}

func (b *sleepyBackend) GetObject(_ context.Context, _, key string, _ backends.GetOptions) (*backends.Object, error) {
	time.Sleep(backendCall)
	var body io.ReadCloser = &sleepyBody{left: bodyChunks}
	if b.writerTo {
		body = &sleepyWriterToBody{sleepyBody{left: bodyChunks}}
	}
	return &backends.Object{Info: backends.ObjectInfo{Key: key, Size: bodyChunks}, Body: body}, nil
}

// sleepyBody yields one byte per Read, each after backendRead.
type sleepyBody struct{ left int }

func (b *sleepyBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(backendRead)
	b.left--
	p[0] = 'x'
	return 1, nil
}

func (b *sleepyBody) Close() error { return nil }

// sleepyWriterToBody writes itself as fs's body does: through io.Copy,
// so a destination's ReadFrom takes over the reads.
type sleepyWriterToBody struct{ sleepyBody }

func (b *sleepyWriterToBody) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{&b.sleepyBody})
}

// slowClient is the client's side: each Read of its body and each Write
// of a response takes clientPause.
type slowClient struct {
	left  int
	reads int
}

func (c *slowClient) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(clientPause)
	c.left--
	c.reads++
	p[0] = 'x'
	return 1, nil
}

func (c *slowClient) Write(p []byte) (int, error) {
	time.Sleep(clientPause)
	return len(p), nil
}

// slowSendfile is a destination with ReadFrom, as net/http's connection:
// the source's reads happen inside it.
type slowSendfile struct {
	slowClient
	readFrom bool
}

func (c *slowSendfile) ReadFrom(src io.Reader) (int64, error) {
	c.readFrom = true
	time.Sleep(clientPause)
	return io.Copy(io.Discard, src)
}

// inRequest is a context with a request state, and that state.
func inRequest(t *testing.T) (context.Context, *request) {
	st := &request{}
	return context.WithValue(t.Context(), requestKey{}, st), st
}

func checkWindow(t *testing.T, st *request, lo, hi time.Duration) {
	t.Helper()
	got := time.Duration(st.backendNanos.Load())
	if got < lo || got >= hi {
		t.Errorf("backend time %v, want in [%v, %v)", got, lo, hi)
	}
}

// TestBackendTimeWrites: a write counts the backend's time and not the
// time it waits for the client's body.
func TestBackendTimeWrites(t *testing.T) {
	b := timeBackend(&sleepyBackend{})
	t.Run("PutObject", func(t *testing.T) {
		ctx, st := inRequest(t)
		client := &slowClient{left: bodyChunks}
		if _, err := b.PutObject(ctx, "b", "k", client, backends.PutOptions{Size: bodyChunks}); err != nil {
			t.Fatal(err)
		}
		if client.reads != bodyChunks {
			t.Fatalf("%d body reads, want %d", client.reads, bodyChunks)
		}
		checkWindow(t, st, backendTotal, backendTotal+clientTotal/2)
	})
	t.Run("no body", func(t *testing.T) {
		ctx, st := inRequest(t)
		if _, err := b.PutObject(ctx, "b", "k", nil, backends.PutOptions{Size: 0}); err != nil {
			t.Fatal(err)
		}
		checkWindow(t, st, backendCall, backendCall+clientTotal)
	})
	t.Run("UploadPart", func(t *testing.T) {
		ctx, st := inRequest(t)
		client := &slowClient{left: bodyChunks}
		part, err := b.UploadPart(ctx, "b", "k", "u", 3, client, backends.PartOptions{Size: bodyChunks})
		if err != nil {
			t.Fatal(err)
		}
		if part.Number != 3 || client.reads != bodyChunks {
			t.Fatalf("part %d after %d body reads, want 3 after %d", part.Number, client.reads, bodyChunks)
		}
		checkWindow(t, st, backendTotal, backendTotal+clientTotal/2)
	})
}

// TestBackendTimeReads: a GET counts the call and the reads of its body,
// not the writes to the client, whether the handler copies the body or
// the body writes itself.
func TestBackendTimeReads(t *testing.T) {
	t.Run("Read", func(t *testing.T) {
		ctx, st := inRequest(t)
		obj, err := timeBackend(&sleepyBackend{}).GetObject(ctx, "b", "k", backends.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if obj.Info.Key != "k" || obj.Info.Size != bodyChunks {
			t.Fatalf("info %+v, want the backend's", obj.Info)
		}
		if _, ok := obj.Body.(io.WriterTo); ok {
			t.Fatal("a body without WriteTo gained one")
		}
		n, err := sendBody(&slowClient{}, obj.Body)
		if err != nil || n != bodyChunks {
			t.Fatalf("sent %d, %v; want %d", n, err, bodyChunks)
		}
		if err := obj.Body.Close(); err != nil {
			t.Fatal(err)
		}
		checkWindow(t, st, backendTotal, backendTotal+clientTotal/2)
	})
	t.Run("WriteTo", func(t *testing.T) {
		ctx, st := inRequest(t)
		obj, err := timeBackend(&sleepyBackend{writerTo: true}).GetObject(ctx, "b", "k", backends.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := obj.Body.(io.WriterTo); !ok {
			t.Fatal("the body lost WriteTo")
		}
		// Write only: the body's reads stay the backend's.
		n, err := sendBody(struct{ io.Writer }{&slowClient{}}, obj.Body)
		if err != nil || n != bodyChunks {
			t.Fatalf("sent %d, %v; want %d", n, err, bodyChunks)
		}
		checkWindow(t, st, backendTotal, backendTotal+clientTotal/2)
	})
	t.Run("sendfile", func(t *testing.T) {
		ctx, st := inRequest(t)
		obj, err := timeBackend(&sleepyBackend{writerTo: true}).GetObject(ctx, "b", "k", backends.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dst := &slowSendfile{}
		n, err := sendBody(dst, obj.Body)
		if err != nil || n != bodyChunks {
			t.Fatalf("sent %d, %v; want %d", n, err, bodyChunks)
		}
		if !dst.readFrom {
			t.Fatal("the destination's ReadFrom was not used")
		}
		// The reads inside ReadFrom are the client's: only the call counts.
		checkWindow(t, st, backendCall, backendCall+clientPause)
	})
}

// TestBackendTimeConcurrent: calls from two goroutines both count.
func TestBackendTimeConcurrent(t *testing.T) {
	b := timeBackend(&sleepyBackend{})
	ctx, st := inRequest(t)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := b.HeadObject(ctx, "b", "k", backends.GetOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	checkWindow(t, st, 2*backendCall, 2*backendCall+clientTotal)
}

// TestBackendTimeOutsideRequest: without a request state calls pass
// straight through, the GET body unwrapped.
func TestBackendTimeOutsideRequest(t *testing.T) {
	inner := &sleepyBackend{}
	b := timeBackend(inner)
	if _, err := b.PutObject(t.Context(), "b", "k", &slowClient{left: 1}, backends.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	obj, err := b.GetObject(t.Context(), "b", "k", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.Body.(*sleepyBody); !ok {
		t.Fatalf("body %T, want the backend's own", obj.Body)
	}
}

// copierBackend is a backend that copies within itself.
type copierBackend struct{ sleepyBackend }

func (c *copierBackend) CopyObject(_ context.Context, _, dst backends.ObjectRef, _ backends.CopyOptions) (backends.ObjectInfo, error) {
	time.Sleep(backendCall)
	return backends.ObjectInfo{Key: dst.Key}, nil
}

func (c *copierBackend) CopyPart(_ context.Context, _ backends.ObjectRef, _ *backends.Range, _ backends.ObjectRef, _ string, n int, _ backends.CopyOptions) (backends.PartInfo, error) {
	time.Sleep(backendCall)
	return backends.PartInfo{Number: n}, nil
}

// TestBackendTimeCopier: the wrapper is a Copier exactly when the backend
// is, and counts its copies.
func TestBackendTimeCopier(t *testing.T) {
	if _, ok := timeBackend(&sleepyBackend{}).(backends.Copier); ok {
		t.Fatal("a backend that does not copy became a Copier")
	}
	c, ok := timeBackend(&copierBackend{}).(backends.Copier)
	if !ok {
		t.Fatal("a Copier backend lost Copier")
	}
	ctx, st := inRequest(t)
	info, err := c.CopyObject(ctx, backends.ObjectRef{Bucket: "b", Key: "src"}, backends.ObjectRef{Bucket: "b", Key: "dst"}, backends.CopyOptions{})
	if err != nil || info.Key != "dst" {
		t.Fatalf("copy: %+v, %v", info, err)
	}
	part, err := c.CopyPart(ctx, backends.ObjectRef{Bucket: "b", Key: "src"}, nil, backends.ObjectRef{Bucket: "b", Key: "dst"}, "u", 2, backends.CopyOptions{})
	if err != nil || part.Number != 2 {
		t.Fatalf("copy part: %+v, %v", part, err)
	}
	checkWindow(t, st, 2*backendCall, 2*backendCall+clientTotal)
}

// TestAccessRowBackendLatency: the row never claims more backend time
// than the request took.
func TestAccessRowBackendLatency(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/b/k", nil)
	st := &request{}
	st.backendNanos.Store(int64(300 * time.Millisecond))
	if row := accessRow(r, st, "GetObject", 200, 0, 0, time.Second); row.BackendLatency != 300*time.Millisecond {
		t.Errorf("backend latency %v, want 300ms", row.BackendLatency)
	}
	st.backendNanos.Store(int64(3 * time.Second))
	if row := accessRow(r, st, "GetObject", 200, 0, 0, time.Second); row.BackendLatency != time.Second {
		t.Errorf("backend latency %v, want the request's 1s", row.BackendLatency)
	}
}

// slowGetBackend is the fs backend with backendCall added to each
// GetObject.
type slowGetBackend struct{ backends.Backend }

func (b slowGetBackend) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	time.Sleep(backendCall)
	return b.Backend.GetObject(ctx, bucket, key, opts)
}

// rowOf waits for the analytics row of resp's request.
func rowOf(t *testing.T, rec *rowRecorder, resp *http.Response) analytics.Request {
	t.Helper()
	id := resp.Header.Get("x-amz-request-id")
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, row := range rec.all() {
			if row.ID == id {
				return row
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no analytics row for request %s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackendLatencyRows: through the gateway on the fs backend, a PUT's
// and a GET's rows carry the time spent in the backend, within the
// request's latency; a client trickling its body does not count, a slow
// backend does.
func TestBackendLatencyRows(t *testing.T) {
	rec := &rowRecorder{}
	e := newEnv(t, func(o *Options, b *backends.Backend) {
		o.Analytics = rec
		*b = slowGetBackend{*b}
	})
	e.mkBucket("timing")
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	put := e.put("timing", "big", body, nil)
	expectStatus(t, put, http.StatusOK)
	get := e.do(req{path: "/timing/big"})
	if got := expectStatus(t, get, http.StatusOK); !bytes.Equal(got, body) {
		t.Fatalf("GET returned %d bytes, want the %d put", len(got), len(body))
	}
	for _, resp := range []*http.Response{put, get} {
		row := rowOf(t, rec, resp)
		if row.BackendLatency <= 0 || row.BackendLatency > row.Latency {
			t.Errorf("%s: backend latency %v, want in (0, %v]", row.Operation, row.BackendLatency, row.Latency)
		}
	}
	if row := rowOf(t, rec, get); row.BackendLatency < backendCall {
		t.Errorf("GetObject: backend latency %v, want at least the backend's %v", row.BackendLatency, backendCall)
	}

	// A body the client produces a byte every clientPause. With Expect,
	// the transport sends the headers and waits for the handler to read
	// before it produces the body, so the gateway waits for all of it.
	hr, err := http.NewRequest(http.MethodPut, e.url+"/timing/slow", &slowClient{left: bodyChunks})
	if err != nil {
		t.Fatal(err)
	}
	hr.ContentLength = bodyChunks
	hr.Header.Set("Expect", "100-continue")
	hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signRaw(t, hr, "UNSIGNED-PAYLOAD")
	slow, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, slow, http.StatusOK)
	row := rowOf(t, rec, slow)
	t.Logf("slow client PutObject: backend %v of %v", row.BackendLatency, row.Latency)
	if row.Operation != "PutObject" || row.BytesIn != bodyChunks || row.Latency < clientTotal-clientPause {
		t.Fatalf("row %+v: want a PutObject of %d bytes taking at least %v", row, bodyChunks, clientTotal-clientPause)
	}
	if row.BackendLatency <= 0 || row.BackendLatency >= clientPause {
		t.Errorf("PutObject of a slow client: backend latency %v of %v, want in (0, %v)", row.BackendLatency, row.Latency, clientPause)
	}
	if got, want := string(e.get("timing", "slow")), strings.Repeat("x", bodyChunks); got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
}

// TestBackendTimeNoAllocs: the wrappers allocate nothing per Read or per
// WriteTo.
func TestBackendTimeNoAllocs(t *testing.T) {
	var c atomic.Int64
	src := bytes.NewReader(make([]byte, 1<<20))
	body := timeBody(io.NopCloser(src), &c)
	cr := &clientReader{r: src}
	buf := make([]byte, 16)
	if n := testing.AllocsPerRun(100, func() { body.Read(buf) }); n != 0 {
		t.Errorf("%v allocations per GET body Read, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { cr.Read(buf) }); n != 0 {
		t.Errorf("%v allocations per client body Read, want 0", n)
	}
	wt := timeBody(struct {
		io.ReadCloser
		io.WriterTo
	}{io.NopCloser(nil), writerToFunc(func(w io.Writer) (int64, error) {
		n, err := w.Write(buf)
		return int64(n), err
	})}, &c)
	if n := testing.AllocsPerRun(100, func() { wt.(io.WriterTo).WriteTo(io.Discard) }); n != 0 {
		t.Errorf("%v allocations per WriteTo, want 0", n)
	}
}

type writerToFunc func(io.Writer) (int64, error)

func (f writerToFunc) WriteTo(w io.Writer) (int64, error) { return f(w) }
