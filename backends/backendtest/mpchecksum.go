package backendtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// newHash returns the standard library's hash for an S3 checksum
// algorithm, so expectations never come from the code under test.
func newHash(alg string) hash.Hash {
	switch alg {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		// Reflected 0x9a6c9329ac4bc9b5, all-ones init and final xor.
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	panic(alg)
}

func digestOf(alg string, data ...[]byte) []byte {
	h := newHash(alg)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// uploadPartChecksum uploads a part whose body declares cs when it ends,
// as a client's trailing checksum does.
func uploadPartChecksum(t *testing.T, b backends.Backend, bucket, key, id string, n int, data []byte, cs backends.Checksum) (backends.PartInfo, error) {
	t.Helper()
	var set backends.Checksum
	body := &trailingChecksum{r: bytes.NewReader(data), set: &set, val: cs}
	return b.UploadPart(t.Context(), bucket, key, id, n, body, backends.PartOptions{Size: int64(len(data)), Checksum: &set})
}

// testMultipartChecksums completes an upload for every algorithm and type
// S3 allows, and one without an algorithm (which gets CRC64NVME
// FULL_OBJECT), and checks the object's checksum against one computed
// here over the assembled bytes (FULL_OBJECT) or the parts' digests
// (COMPOSITE).
func testMultipartChecksums(t *testing.T, b backends.Backend) {
	const bkt = "bt-mp-checksums"
	createBucket(t, b, bkt)
	cases := []struct{ alg, typ string }{
		{"CRC32", "FULL_OBJECT"}, {"CRC32", "COMPOSITE"}, {"CRC32C", "FULL_OBJECT"}, {"CRC32C", "COMPOSITE"},
		{"CRC64NVME", "FULL_OBJECT"}, {"SHA1", "COMPOSITE"}, {"SHA256", "COMPOSITE"}, {"", ""},
	}
	p1, p2 := partBytes(10, backends.MinPartSize), partBytes(11, 1027)
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s %s", tc.alg, tc.typ), func(t *testing.T) {
			ctx := t.Context()
			key := fmt.Sprintf("k%d", i)
			id := startUpload(t, b, bkt, key, backends.UploadOptions{ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
			alg, typ := tc.alg, tc.typ
			if alg == "" {
				alg, typ = "CRC64NVME", "FULL_OBJECT"
			}
			d1, d2 := digestOf(alg, p1), digestOf(alg, p2)
			// Part 1 declares its checksum as a trailer; part 2 declares
			// none and gets one computed.
			i1, err := uploadPartChecksum(t, b, bkt, key, id, 1, p1, backends.Checksum{Algorithm: alg, Value: b64(d1)})
			if err != nil {
				t.Fatalf("UploadPart(1): %v", err)
			}
			i2 := uploadPart(t, b, bkt, key, id, 2, p2)
			for n, got := range map[int]backends.PartInfo{1: i1, 2: i2} {
				want := map[int][]byte{1: d1, 2: d2}[n]
				if got.Checksum.Algorithm != alg || got.Checksum.Value != b64(want) {
					t.Errorf("part %d checksum = %+v, want %s %s", n, got.Checksum, alg, b64(want))
				}
			}
			// A backend without default part checksums keeps none for an
			// upload without an algorithm, and cannot check them.
			unchecked := tc.alg == "" && b.Capabilities(bkt).Limits.NoDefaultPartChecksums
			page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 10})
			if err != nil || len(page.Parts) != 2 || (page.Parts[1].Checksum.Value != b64(d2) && !unchecked) {
				t.Errorf("ListParts = %+v, %v", page, err)
			}
			// No algorithm named: the default, CRC64NVME FULL_OBJECT.
			if u := page.Upload; u.ChecksumAlgorithm != alg || u.ChecksumType != typ || u.ChecksumDefault != (tc.alg == "") {
				t.Errorf("ListParts upload = %+v, want %s %s (default %v)", u, alg, typ, tc.alg == "")
			}
			want := backends.Checksum{Algorithm: alg, Type: typ, Value: b64(digestOf(alg, p1, p2))}
			if typ == "COMPOSITE" {
				want.Value = b64(digestOf(alg, d1, d2)) + "-2"
			}

			if !unchecked {
				bad := completed(i1, i2)
				bad[1].Checksum = b64(digestOf(alg, []byte("other")))
				_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, bad, backends.CompleteOptions{})
				wantErr(t, "CompleteMultipartUpload with a wrong part checksum", err, backends.ErrInvalidPart)
				_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(i1, i2),
					backends.CompleteOptions{Checksum: b64(digestOf(alg, []byte("other")))})
				wantErr(t, "CompleteMultipartUpload with a wrong object checksum", err, backends.ErrBadDigest)
			}

			declared := ""
			if typ == "FULL_OBJECT" {
				declared = want.Value
			}
			// Part checksums need not be listed.
			list := completed(i1, i2)
			list[0].Checksum = ""
			info := completeUpload(t, b, bkt, key, id, list, backends.CompleteOptions{Checksum: declared})
			if info.Checksum != want {
				t.Errorf("CompleteMultipartUpload checksum = %+v, want %+v", info.Checksum, want)
			}
			head, err := b.HeadObject(ctx, bkt, key, backends.GetOptions{})
			if err != nil || head.Checksum != want {
				t.Errorf("HeadObject checksum = %+v (%v), want %+v", head.Checksum, err, want)
			}
			wantMultipart(t, b, bkt, key, p1, p2)
		})
	}
}

// testPartChecksumErrors: a part's checksum must be of the upload's
// algorithm and match the data; when the client chose the algorithm, the
// completed parts run 1, 2, 3...
func testPartChecksumErrors(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key = "bt-mp-checksum-errors", "k"
	createBucket(t, b, bkt)
	data := []byte("part data")
	for _, alg := range []string{"CRC32C", ""} {
		id := startUpload(t, b, bkt, key, backends.UploadOptions{ChecksumAlgorithm: alg})
		_, err := uploadPartChecksum(t, b, bkt, key, id, 1, data, backends.Checksum{Algorithm: "SHA256", Value: b64(digestOf("SHA256", data))})
		wantErr(t, fmt.Sprintf("upload %q: part with a SHA256 checksum", alg), err, backends.ErrChecksumAlgorithm)
		if alg != "" {
			_, err = uploadPartChecksum(t, b, bkt, key, id, 1, data, backends.Checksum{Algorithm: alg, Value: b64(digestOf(alg, []byte("other")))})
			wantErr(t, "part with a wrong checksum", err, backends.ErrBadDigest)
		}
		page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 10})
		if err != nil || len(page.Parts) != 0 {
			t.Errorf("rejected parts are listed: %+v, %v", page.Parts, err)
		}
		if err := b.AbortMultipartUpload(ctx, bkt, key, id); err != nil {
			t.Fatal(err)
		}
	}

	// A chosen algorithm: numbers must run from 1 without gaps. The
	// default: any ascending numbers.
	for _, typ := range []string{"COMPOSITE", "FULL_OBJECT", "default"} {
		opts := backends.UploadOptions{ChecksumAlgorithm: "CRC32", ChecksumType: typ}
		if typ == "default" {
			opts = backends.UploadOptions{}
		}
		id := startUpload(t, b, bkt, key, opts)
		i1 := uploadPart(t, b, bkt, key, id, 1, partBytes(12, backends.MinPartSize))
		i3 := uploadPart(t, b, bkt, key, id, 3, data)
		_, err := b.CompleteMultipartUpload(ctx, bkt, key, id, completed(i1, i3), backends.CompleteOptions{})
		if typ != "default" {
			wantErr(t, typ+" upload completed with parts 1 and 3", err, backends.ErrInvalidPartOrder)
			i2 := uploadPart(t, b, bkt, key, id, 2, data)
			_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(i2), backends.CompleteOptions{})
			wantErr(t, typ+" upload completed from part 2", err, backends.ErrInvalidPartOrder)
			completeUpload(t, b, bkt, key, id, completed(i1, i2), backends.CompleteOptions{})
		} else if err != nil {
			t.Errorf("upload without an algorithm completed with parts 1 and 3: %v", err)
		}
		head, err := b.HeadObject(ctx, bkt, key, backends.GetOptions{})
		if err != nil || (typ == "COMPOSITE") != strings.HasSuffix(head.Checksum.Value, "-2") {
			t.Errorf("%s: HeadObject checksum = %+v, %v", typ, head.Checksum, err)
		}
	}
}
