package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// accessRecord is one line of s3gate's access log ("msg":"request" on
// stderr, JSON): the server's own account of what arrived.
type accessRecord struct {
	RequestID string `json:"request_id"`
	Op        string `json:"op"`
	Method    string `json:"method"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	// Payload is the x-amz-content-sha256 mode: "sha256" for a hex hash,
	// UNSIGNED-PAYLOAD, a STREAMING-* mode, or "" when none was sent.
	Payload string `json:"payload"`
	// Checksum is the x-amz-checksum-* algorithm s3gate verified, and
	// ChecksumSource where the client declared it: header or trailer.
	Checksum       string `json:"checksum"`
	ChecksumSource string `json:"checksum_source"`

	fields map[string]any
	line   string
}

// uploadFields are the access log fields that tell how a body arrived.
var uploadFields = []string{"payload", "checksum", "checksum_source"}

// accessLog returns every access log record written so far.
func (s *server) accessLog() []accessRecord {
	var recs []accessRecord
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if !strings.Contains(line, `"msg":"request"`) {
			continue
		}
		var r accessRecord
		if json.Unmarshal([]byte(line), &r) != nil || json.Unmarshal([]byte(line), &r.fields) != nil || r.fields["msg"] != "request" {
			continue
		}
		r.line = line
		recs = append(recs, r)
	}
	return recs
}

// waitAccess returns the last access record for which match holds. The
// line is written once the response is done and reaches the test through a
// pipe, so it may come a little after the client has its answer.
func (s *server) waitAccess(t *testing.T, what string, match func(accessRecord) bool) accessRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := s.accessLog()
		for i := len(recs) - 1; i >= 0; i-- {
			if match(recs[i]) {
				return recs[i]
			}
		}
		if time.Now().After(deadline) {
			var lines []string
			for _, r := range recs {
				lines = append(lines, r.line)
			}
			t.Fatalf("no access log line for %s; the access log:\n%s", what, tailLines(strings.Join(lines, "\n"), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantUpload is how an upload's body arrived: the x-amz-content-sha256 mode
// and the checksum the client declared.
type wantUpload struct {
	Payload string // "sha256", "UNSIGNED-PAYLOAD", "STREAMING-..."
	// Checksum is the algorithm ("CRC32", ...) and Source "header" or
	// "trailer"; both are empty when the client declared no checksum.
	Checksum string
	Source   string
}

func (u wantUpload) String() string {
	if u.Source == "" {
		return fmt.Sprintf("payload %s, no checksum", u.Payload)
	}
	return fmt.Sprintf("payload %s, checksum %s in a %s", u.Payload, u.Checksum, u.Source)
}

// Upload modes: the access log's payload values.
const (
	payloadSHA256           = "sha256"
	payloadUnsigned         = "UNSIGNED-PAYLOAD"
	payloadUnsignedTrailer  = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	payloadStreaming        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	payloadStreamingTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	sourceHeader            = "header"
	sourceTrailer           = "trailer"
)

// matches reports whether what s3gate logged is the expected upload. When
// the client declared no checksum, s3gate may log the CRC64NVME it
// computes itself (source "default"), as S3 does for every upload; a header
// or trailer source is then wrong.
func (u wantUpload) matches(r accessRecord) bool {
	if r.Payload != u.Payload {
		return false
	}
	if u.Source == "" {
		return (r.ChecksumSource == "" && r.Checksum == "") || (r.ChecksumSource == "default" && r.Checksum == "CRC64NVME")
	}
	return r.Checksum == u.Checksum && r.ChecksumSource == u.Source
}

// requireUpload fails unless s3gate's access log shows a successful
// PutObject of bucket/key whose body arrived as want says.
func (s *server) requireUpload(t *testing.T, client, bucket, key string, want wantUpload) {
	t.Helper()
	rec := s.waitAccess(t, fmt.Sprintf("PUT %s/%s", bucket, key), func(r accessRecord) bool {
		return r.Method == "PUT" && r.Bucket == bucket && r.Key == key
	})
	for _, f := range uploadFields {
		if _, ok := rec.fields[f]; !ok {
			t.Errorf("%s: the access log line lacks the field %q: %s", client, f, rec.line)
		}
	}
	got := wantUpload{Payload: rec.Payload, Checksum: rec.Checksum, Source: rec.ChecksumSource}
	switch {
	case rec.Status != 200:
		t.Errorf("%s: PUT %s/%s answered %d %s (want 200 with %v): %s", client, bucket, key, rec.Status, rec.Error, want, rec.line)
	case !want.matches(rec):
		t.Errorf("%s: PUT %s/%s arrived as %v, want %v: %s", client, bucket, key, got, want, rec.line)
	default:
		t.Logf("%s: PUT %s: %v", client, key, got)
	}
}
