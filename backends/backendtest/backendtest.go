// Package backendtest is the acceptance suite every s3gate backend must
// pass. It exercises the backends.Backend contract only, never the way a
// backend stores things, so the same suite runs against the fs backend
// and against backends that proxy another S3 service.
package backendtest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// clockSkew is how far a backend's LastModified may stray from the test's
// clock (a remote backend has its own).
const clockSkew = 30 * time.Second

// Run runs the suite. newBackend must return an empty backend, independent
// of every other it returned; it is called once per subtest, and subtests
// run in parallel. caps says which optional behaviour to test.
func Run(t *testing.T, newBackend func(t *testing.T) backends.Backend, caps backends.Capabilities) {
	type test struct {
		name string
		fn   func(*testing.T, backends.Backend)
	}
	tests := []test{
		{name: "Buckets", fn: testBuckets},
		{name: "RoundTrip", fn: testRoundTrip},
		{name: "Keys", fn: testKeys},
		{name: "Ranges", fn: testRanges},
		{name: "Conditions", fn: testConditions},
		{name: "Listing", fn: testListing},
		{name: "ListingPages", fn: testListingPages},
		{name: "FailingBody", fn: testFailingBody},
		{name: "CancelledContext", fn: testCancelledContext},
		{name: "SizeMismatch", fn: testSizeMismatch},
		{name: "ConcurrentVersions", fn: testConcurrentVersions},
		{name: "DeleteRacesPut", fn: testDeleteRacesPut},
		{name: "DeleteBucketRacesPut", fn: testDeleteBucketRacesPut},
		{name: "LargeObject", fn: testLargeObject},
		{name: "Checksum", fn: testChecksum},
		{name: "Copy", fn: testCopy},
		{name: "Multipart", fn: testMultipart},
		{name: "MultipartErrors", fn: testMultipartErrors},
		{name: "PartReplacement", fn: testPartReplacement},
		{name: "MultipartChecksums", fn: testMultipartChecksums},
		{name: "PartChecksumErrors", fn: testPartChecksumErrors},
		{name: "PartReads", fn: testPartReads},
		{name: "LargeMultipart", fn: testLargeMultipart},
		{name: "ListParts", fn: testListParts},
		{name: "ListUploads", fn: testListUploads},
		{name: "CompleteRacesAbort", fn: testCompleteRacesAbort},
		{name: "CompleteRacesUploadPart", fn: testCompleteRacesUploadPart},
		{name: "PartsInParallel", fn: testPartsInParallel},
		{name: "DeleteBucketWithUploads", fn: testDeleteBucketWithUploads},
		{name: "Tagging", fn: testTagging},
		{name: "TaggingRacesPut", fn: testTaggingRacesPut},
	}
	// Behaviour a backend declares it lacks is not tested.
	tests = slices.DeleteFunc(tests, func(tc test) bool {
		switch tc.name {
		case "CompleteRacesAbort", "CompleteRacesUploadPart":
			return caps.Limits.RacyComplete
		case "DeleteRacesPut", "DeleteBucketRacesPut":
			return caps.Limits.PathKeys
		}
		return false
	})
	// Optional behaviour is tested only where the backend declares it.
	if caps.ConditionalWrites {
		tests = append(tests, test{name: "ConditionalWrites", fn: testConditionalWrites},
			test{name: "ConditionalDelete", fn: testConditionalDelete},
			test{name: "ConditionalComplete", fn: testConditionalComplete})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBackend(t))
		})
	}
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func createBucket(t *testing.T, b backends.Backend, bucket string) {
	t.Helper()
	if err := b.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatalf("CreateBucket(%q): %v", bucket, err)
	}
}

// put stores data under key with a declared size.
func put(t *testing.T, b backends.Backend, bucket, key string, data []byte) backends.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(t.Context(), bucket, key, bytes.NewReader(data), backends.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	if info.ETag != md5Hex(data) {
		t.Fatalf("PutObject(%q) ETag = %q, want %q", key, info.ETag, md5Hex(data))
	}
	return info
}

// get reads a whole object.
func get(t *testing.T, b backends.Backend, bucket, key string, opts backends.GetOptions) ([]byte, *backends.Object) {
	t.Helper()
	obj, err := b.GetObject(t.Context(), bucket, key, opts)
	if err != nil {
		t.Fatalf("GetObject(%q): %v", key, err)
	}
	defer obj.Body.Close()
	data, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("GetObject(%q) body: %v", key, err)
	}
	return data, obj
}

// wantBody checks key holds exactly data.
func wantBody(t *testing.T, b backends.Backend, bucket, key string, data []byte) {
	t.Helper()
	got, obj := get(t, b, bucket, key, backends.GetOptions{})
	if !bytes.Equal(got, data) {
		t.Fatalf("GetObject(%q) body = %q, want %q", key, trunc(got), trunc(data))
	}
	if obj.Info.ETag != md5Hex(data) || obj.Info.Size != int64(len(data)) {
		t.Fatalf("GetObject(%q) info = %+v, want ETag %s, size %d", key, obj.Info, md5Hex(data), len(data))
	}
}

// wantAbsent checks key holds nothing.
func wantAbsent(t *testing.T, b backends.Backend, bucket, key string) {
	t.Helper()
	if _, err := b.HeadObject(t.Context(), bucket, key, backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Fatalf("HeadObject(%q) error = %v, want ErrNoSuchKey", key, err)
	}
	if _, err := b.GetObject(t.Context(), bucket, key, backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Fatalf("GetObject(%q) error = %v, want ErrNoSuchKey", key, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func inWindow(t *testing.T, what string, got, start time.Time) {
	t.Helper()
	if got.Before(start.Add(-clockSkew)) || got.After(time.Now().Add(clockSkew)) {
		t.Errorf("%s = %v, want about %v", what, got, start)
	}
}

// storableKeys drops, for a backend whose keys are file-system paths
// (Limits.PathKeys), the keys such a backend cannot hold beside the
// others: those ending in "/", with empty, "." or ".." segments, NUL
// bytes or segments over 255 bytes, and those that are another key's
// "directory".
func storableKeys(b backends.Backend, keys []string) []string {
	if !b.Capabilities("").Limits.PathKeys {
		return keys
	}
	var out []string
	for _, k := range keys {
		if pathKey(k) && !slices.ContainsFunc(keys, func(o string) bool { return strings.HasPrefix(o, k+"/") }) {
			out = append(out, k)
		}
	}
	return out
}

func pathKey(k string) bool {
	if strings.HasSuffix(k, "/") || strings.ContainsRune(k, 0) {
		return false
	}
	for _, seg := range strings.Split(k, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return false
		}
	}
	return true
}
