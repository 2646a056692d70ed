package s3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

var errBody = errors.New("body check failed")

// tailReader serves data and then ends as told, recording whether its
// end (clean or not) has been reached.
type tailReader struct {
	r       *bytes.Reader
	end     error // io.EOF for a clean end
	with    bool  // the end comes with the final bytes
	extra   []byte
	reached bool
}

func (t *tailReader) Read(p []byte) (int, error) {
	if t.r.Len() == 0 {
		if len(t.extra) > 0 {
			n := copy(p, t.extra)
			t.extra = t.extra[n:]
			return n, nil
		}
		t.reached = true
		return 0, t.end
	}
	n, _ := t.r.Read(p)
	if t.with && t.r.Len() == 0 && len(t.extra) == 0 {
		t.reached = true
		return n, t.end
	}
	return n, nil
}

// TestSourceHoldsBackFinalByte reads sources with small buffers and checks
// the final byte never leaves before the body's clean end was seen, and
// that every failure (the body's, a size mismatch, a cancelled request)
// keeps it back.
func TestSourceHoldsBackFinalByte(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	tests := []struct {
		name   string
		body   *tailReader
		size   int64
		cancel bool
		want   error
	}{
		{"clean end after the data", &tailReader{end: io.EOF}, 10000, false, nil},
		{"clean end with the data", &tailReader{end: io.EOF, with: true}, 10000, false, nil},
		{"failure after the data", &tailReader{end: errBody}, 10000, false, errBody},
		{"failure with the last bytes", &tailReader{end: errBody, with: true}, 10000, false, errBody},
		{"short body", &tailReader{end: io.EOF}, 10001, false, backends.ErrIncompleteBody},
		{"long body", &tailReader{end: io.EOF, extra: []byte("x")}, 10000, false, backends.ErrSizeMismatch},
		{"cancelled request", &tailReader{end: io.EOF}, 10000, true, context.Canceled},
	}
	for _, tc := range tests {
		for _, bufSize := range []int{1, 7, 4096, 1 << 20} {
			t.Run(fmt.Sprintf("%s/buf %d", tc.name, bufSize), func(t *testing.T) {
				body := *tc.body
				body.r = bytes.NewReader(data)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				src := newSource(&body, tc.size)
				src.ctx = ctx
				var got []byte
				buf := make([]byte, bufSize)
				var err error
				for {
					if tc.cancel && int64(len(got)) >= tc.size/2 {
						cancel()
					}
					var n int
					n, err = src.Read(buf)
					got = append(got, buf[:n]...)
					if int64(len(got)) == tc.size && !body.reached {
						t.Fatalf("final byte given out before the body ended")
					}
					if err != nil {
						break
					}
				}
				if tc.want == nil {
					if err != io.EOF || !bytes.Equal(got, data) {
						t.Fatalf("read %d bytes, %v; want all %d, io.EOF", len(got), err, len(data))
					}
					return
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want %v", err, tc.want)
				}
				if int64(len(got)) >= tc.size {
					t.Fatalf("a failed body gave out all %d bytes", len(got))
				}
				if _, err := src.Read(buf); !errors.Is(err, tc.want) {
					t.Fatalf("Read after failure = %v, want the same failure", err)
				}
			})
		}
	}
}

// decodeChunked parses an aws-chunked body: data and trailer.
func decodeChunked(b []byte) ([]byte, string, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	var data []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasSuffix(line, "\r\n") {
			return nil, "", fmt.Errorf("chunk header: %q %v", line, err)
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
		if err != nil {
			return nil, "", err
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(r, chunk); err != nil || string(chunk[n:]) != "\r\n" {
			return nil, "", fmt.Errorf("chunk data: %v", err)
		}
		data = append(data, chunk[:n]...)
	}
	trailer, err := r.ReadString('\n')
	if err != nil {
		return nil, "", err
	}
	if end, _ := io.ReadAll(r); string(end) != "\r\n" {
		return nil, "", fmt.Errorf("after the trailer: %q", end)
	}
	return data, strings.TrimSuffix(trailer, "\r\n"), nil
}

func TestChunkedFraming(t *testing.T) {
	for _, size := range []int64{1, 100, awsChunkSize - 1, awsChunkSize, awsChunkSize + 1, 3*awsChunkSize + 17} {
		data := bytes.Repeat([]byte{'z'}, int(size))
		src := newSource(bytes.NewReader(data), size)
		f := streamChecksum(src, nil, "CRC32", errLateAlgorithm)
		body, length, _ := streamBody(src, f, "")
		enc, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if int64(len(enc)) != length {
			t.Errorf("size %d: encoded %d bytes, Content-Length says %d", size, len(enc), length)
		}
		got, trailer, err := decodeChunked(enc)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: decoded %d bytes (%v)", size, len(got), err)
		}
		if want := "x-amz-checksum-crc32:" + f.value; trailer != want || f.value == "" {
			t.Errorf("size %d: trailer %q, want %q", size, trailer, want)
		}
	}
}

// TestChunkedHoldsBack: a framed body whose source fails ends without its
// last data byte and without the end chunk and trailer.
func TestChunkedHoldsBack(t *testing.T) {
	data := bytes.Repeat([]byte{'q'}, 3*awsChunkSize)
	src := newSource(&tailReader{r: bytes.NewReader(data), end: errBody, with: true}, int64(len(data)))
	f := streamChecksum(src, nil, "CRC64NVME", errLateAlgorithm)
	body, _, _ := streamBody(src, f, "")
	enc, err := io.ReadAll(body)
	if !errors.Is(err, errBody) {
		t.Fatalf("error = %v, want the body's", err)
	}
	if bytes.Contains(enc, []byte("x-amz-checksum")) || bytes.HasSuffix(enc, []byte("0\r\n")) {
		t.Fatalf("failed body was framed to its end")
	}
	if n := bytes.Count(enc, []byte{'q'}); n >= len(data) || n < 2*awsChunkSize {
		t.Errorf("%d data bytes went out, want most but not all of %d", n, len(data))
	}
}

// TestStreamChecksum: the caller's checksum at EOF must agree with the
// bytes, in the algorithm named up front.
func TestStreamChecksum(t *testing.T) {
	data := []byte("hello world")
	crc32 := "DUoRhQ=="
	tests := []struct {
		name string
		pre  string // algorithm set before the body
		end  backends.Checksum
		want error
	}{
		{"none", "", backends.Checksum{}, nil},
		{"matching", "CRC32", backends.Checksum{Algorithm: "CRC32", Value: crc32}, nil},
		{"wrong value", "CRC32", backends.Checksum{Algorithm: "CRC32", Value: "AAAAAA=="}, backends.ErrBadDigest},
		{"algorithm only at the end", "", backends.Checksum{Algorithm: "CRC32", Value: crc32}, errLateAlgorithm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := &backends.Checksum{Algorithm: tc.pre}
			src := newSource(bytes.NewReader(data), int64(len(data)))
			f := streamChecksum(src, cs, "", errLateAlgorithm)
			src.onEOF = func(inner func() error) func() error {
				return func() error { *cs = tc.end; return inner() }
			}(src.onEOF)
			_, err := io.ReadAll(src)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if tc.want == nil && tc.pre == "CRC32" && f.value != crc32 {
				t.Errorf("forwarded %q, want %q", f.value, crc32)
			}
		})
	}
}
