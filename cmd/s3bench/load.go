package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type keys struct{ access, secret string }

func newKeys(prefix string) keys {
	return keys{access: prefix + randomHex(6), secret: randomHex(20)}
}

// newClient returns an SDK client that costs as little as an S3 client
// can: keep-alive connections with large buffers, no compression, no
// retries, checksums only where an operation requires them.
func newClient(endpoint string, k keys) *s3.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(k.access, k.secret, ""),
		HTTPClient:                 &http.Client{Transport: tr},
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// unsignedPayload signs a PUT with UNSIGNED-PAYLOAD, so that the client
// does not hash the body.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

type opKind int

const (
	opPut opKind = iota
	opGet
	opHead
	opList
)

// workload is one kind of request, its object size and concurrency.
type workload struct {
	name string
	op   opKind
	size int // object size; 0 for LIST
	conc int
}

var workloads = []workload{
	{"put-4KiB", opPut, 4 << 10, 16},
	{"get-4KiB", opGet, 4 << 10, 16},
	{"head-4KiB", opHead, 4 << 10, 16},
	{"put-1MiB", opPut, 1 << 20, 8},
	{"get-1MiB", opGet, 1 << 20, 8},
	{"put-64MiB", opPut, 64 << 20, 4},
	{"get-64MiB", opGet, 64 << 20, 4},
	{"list-1000", opList, 0, 4},
}

// listKeys is how many keys a LIST returns: one full page.
const listKeys = 1000

// seedCount is how many objects of a size the GET and HEAD workloads
// read, in turn.
func seedCount(size int) int {
	switch {
	case size <= 64<<10:
		return 256
	case size <= 4<<20:
		return 32
	default:
		return 4
	}
}

func seedKey(size, i int) string { return fmt.Sprintf("seed/%d/%04d", size, i) }

// side is one way to the objects: straight to versitygw, or through s3gate.
type side struct {
	name   string
	client *s3.Client
	bucket string
	seeded map[string]bool
}

// seed puts the objects w reads, once per side.
func (s *side) seed(ctx context.Context, w workload) error {
	var keys []string
	var size int
	switch w.op {
	case opGet, opHead:
		size = w.size
		for i := range seedCount(size) {
			keys = append(keys, seedKey(size, i))
		}
	case opList:
		size = 16
		for i := range listKeys {
			keys = append(keys, fmt.Sprintf("list/%04d", i))
		}
	default:
		return nil
	}
	id := fmt.Sprint(size)
	if w.op == opList {
		id = "list"
	}
	if s.seeded[id] {
		return nil
	}
	body := payload(size)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan string)
	)
	for range 16 {
		wg.Go(func() {
			for key := range next {
				_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(key), Body: bytes.NewReader(body)}, unsignedPayload)
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, fmt.Errorf("seeding %s/%s: %w", s.bucket, key, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	s.seeded[id] = first == nil
	return first
}

// sample is what one cell, or several merged, measured.
type sample struct {
	ops, errs int
	bytes     int64
	wall      time.Duration
	lat       []time.Duration
	firstErr  error
}

func (a *sample) merge(b sample) {
	a.ops += b.ops
	a.errs += b.errs
	a.bytes += b.bytes
	a.wall += b.wall
	a.lat = append(a.lat, b.lat...)
	a.firstErr = cmp.Or(a.firstErr, b.firstErr)
}

// percentile of the sorted latencies, p in (0, 1].
func (a *sample) percentile(p float64) time.Duration {
	if len(a.lat) == 0 {
		return 0
	}
	i := int(float64(len(a.lat))*p+0.5) - 1
	return a.lat[max(0, min(i, len(a.lat)-1))]
}

// runCell runs w on one side for d with w.conc workers; each worker also
// completes at least minOps operations, so that slow large objects give a
// few samples. The wall time ends when the last operation ends.
func runCell(ctx context.Context, s *side, w workload, d time.Duration, minOps int) sample {
	var (
		mu  sync.Mutex
		out sample
		wg  sync.WaitGroup
	)
	body := payload(w.size)
	start := time.Now()
	deadline := start.Add(d)
	for worker := range w.conc {
		wg.Go(func() {
			var my sample
			buf := make([]byte, 1<<20)
			for i := 0; ctx.Err() == nil && (i < minOps || time.Now().Before(deadline)); i++ {
				t0 := time.Now()
				n, err := do(ctx, s, w, worker, i, body, buf)
				if err != nil {
					my.errs++
					my.firstErr = cmp.Or(my.firstErr, err)
					continue
				}
				my.lat = append(my.lat, time.Since(t0))
				my.ops++
				my.bytes += n
			}
			mu.Lock()
			out.merge(my)
			mu.Unlock()
		})
	}
	wg.Wait()
	out.wall = time.Since(start)
	return out
}

// do runs operation i of a worker and returns the object bytes it moved.
func do(ctx context.Context, s *side, w workload, worker, i int, body, buf []byte) (int64, error) {
	switch w.op {
	case opPut:
		// Each worker overwrites its own few keys, so that disk use stays
		// bounded however long the run.
		key := fmt.Sprintf("put/%d/%02d/%d", w.size, worker, i%8)
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		}, unsignedPayload)
		return int64(len(body)), err
	case opGet:
		key := seedKey(w.size, (worker+i*w.conc)%seedCount(w.size))
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
		if err != nil {
			return 0, err
		}
		defer out.Body.Close()
		n, err := drain(out.Body, buf)
		if err == nil && n != int64(w.size) {
			err = fmt.Errorf("GET %s: %d bytes, want %d", key, n, w.size)
		}
		return n, err
	case opHead:
		key := seedKey(w.size, (worker+i*w.conc)%seedCount(w.size))
		_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
		return 0, err
	case opList:
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String("list/"), MaxKeys: aws.Int32(listKeys)})
		if err == nil && len(out.Contents) != listKeys {
			err = fmt.Errorf("LIST: %d keys, want %d", len(out.Contents), listKeys)
		}
		return 0, err
	}
	return 0, errors.New("unknown workload")
}

// drain reads r to its end in large reads (io.Discard's ReadFrom would
// read 8 KiB at a time).
func drain(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

var (
	payloadsMu sync.Mutex
	payloads   = map[int][]byte{}
)

// payload returns size random bytes, the same slice for every caller (it
// is only read).
func payload(size int) []byte {
	payloadsMu.Lock()
	defer payloadsMu.Unlock()
	b, ok := payloads[size]
	if !ok {
		b = make([]byte, size)
		_, _ = rand.Read(b)
		payloads[size] = b
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
