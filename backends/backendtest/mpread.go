package backendtest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// testPartReads reads a multipart object part by part (GetOptions.
// PartNumber, by position) and lists its parts (WithParts).
func testPartReads(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key = "bt-mp-reads", "k"
	createBucket(t, b, bkt)
	// Numbers need not be consecutive; parts are addressed by position.
	nums := []int{2, 5, 9}
	parts := [][]byte{partBytes(20, backends.MinPartSize), partBytes(21, backends.MinPartSize+3), partBytes(22, 17)}
	// No algorithm chosen: any ascending numbers do.
	id := startUpload(t, b, bkt, key, backends.UploadOptions{})
	var infos []backends.PartInfo
	for i, p := range parts {
		infos = append(infos, uploadPart(t, b, bkt, key, id, nums[i], p))
	}
	whole := completeUpload(t, b, bkt, key, id, completed(infos...), backends.CompleteOptions{})
	total := int64(backends.MinPartSize*2 + 3 + 17)

	var off int64
	for i, p := range parts {
		want := backends.ContentRange{Start: off, End: off + int64(len(p)) - 1, Size: total}
		got, obj := get(t, b, bkt, key, backends.GetOptions{PartNumber: i + 1})
		if !bytes.Equal(got, p) {
			t.Errorf("part %d: read %d bytes, want part %d's %d bytes", i+1, len(got), nums[i], len(p))
		}
		if obj.Range == nil || *obj.Range != want || obj.Info.PartRange == nil || *obj.Info.PartRange != want {
			t.Errorf("part %d: Range %v, PartRange %v; want %v", i+1, obj.Range, obj.Info.PartRange, want)
		}
		if obj.Info.Size != total || obj.Info.ETag != whole.ETag || obj.Info.PartsCount != 3 {
			t.Errorf("part %d: info %+v; want the whole object's, 3 parts", i+1, obj.Info)
		}
		head, err := b.HeadObject(ctx, bkt, key, backends.GetOptions{PartNumber: i + 1})
		if err != nil || head.PartRange == nil || *head.PartRange != want || head.PartsCount != 3 {
			t.Errorf("HeadObject part %d = %+v, %v; want range %v", i+1, head, err, want)
		}
		off += int64(len(p))
	}
	for _, n := range []int{4, 10} {
		_, err := b.GetObject(ctx, bkt, key, backends.GetOptions{PartNumber: n})
		wantErr(t, fmt.Sprintf("GetObject part %d of 3", n), err, backends.ErrInvalidPartNumber)
		_, err = b.HeadObject(ctx, bkt, key, backends.GetOptions{PartNumber: n})
		wantErr(t, fmt.Sprintf("HeadObject part %d of 3", n), err, backends.ErrInvalidPartNumber)
	}
	// A part read is still subject to the object's conditions.
	_, err := b.GetObject(ctx, bkt, key, backends.GetOptions{PartNumber: 1, Conditions: backends.Conditions{IfMatch: `"nope"`}})
	wantErr(t, "GetObject part with a failing If-Match", err, backends.ErrPreconditionFail)

	head, err := b.HeadObject(ctx, bkt, key, backends.GetOptions{WithParts: true})
	if err != nil {
		t.Fatal(err)
	}
	noParts := b.Capabilities(bkt).Limits.NoObjectParts
	if (len(head.Parts) != 3 && !noParts) || head.PartRange != nil {
		t.Fatalf("WithParts: %+v", head)
	}
	for i, p := range head.Parts {
		want := backends.PartInfo{Number: nums[i], ETag: md5Hex(parts[i]), Size: int64(len(parts[i])),
			Checksum: backends.Checksum{Algorithm: "CRC64NVME", Value: b64(digestOf("CRC64NVME", parts[i]))}}
		if p.Number != want.Number || p.ETag != want.ETag || p.Size != want.Size || p.Checksum != want.Checksum {
			t.Errorf("WithParts part %d = %+v, want %+v", i, p, want)
		}
	}
	if plain, err := b.HeadObject(ctx, bkt, key, backends.GetOptions{}); err != nil || plain.Parts != nil || plain.PartsCount != 3 {
		t.Errorf("HeadObject without WithParts = %+v, %v; want PartsCount only", plain, err)
	}

	// An object written in one PUT is one part: part 1 is all of it.
	data := []byte("single put object")
	put(t, b, bkt, "single", data)
	got, obj := get(t, b, bkt, "single", backends.GetOptions{PartNumber: 1, WithParts: !noParts})
	n := int64(len(data))
	if !bytes.Equal(got, data) || obj.Range == nil || *obj.Range != (backends.ContentRange{Start: 0, End: n - 1, Size: n}) {
		t.Errorf("single PUT, part 1: %q, range %v", got, obj.Range)
	}
	if obj.Info.PartsCount != 0 || obj.Info.Parts != nil {
		t.Errorf("single PUT: PartsCount %d, Parts %v; want none", obj.Info.PartsCount, obj.Info.Parts)
	}
	_, err = b.GetObject(ctx, bkt, "single", backends.GetOptions{PartNumber: 2})
	wantErr(t, "GetObject part 2 of a single PUT", err, backends.ErrInvalidPartNumber)
}

// testLargeMultipart uploads 3 parts of 8 MiB generated on the fly and
// compares the object, and one part read, by hash.
func testLargeMultipart(t *testing.T, b backends.Backend) {
	const bkt, key = "bt-mp-large", "big"
	const partSize, nparts = 8 << 20, 3
	createBucket(t, b, bkt)
	id := startUpload(t, b, bkt, key, backends.UploadOptions{})
	whole, crc := sha256.New(), newHash("CRC64NVME")
	etag := md5.New()
	var infos []backends.PartInfo
	for n := 1; n <= nparts; n++ {
		pm := md5.New()
		body := io.TeeReader(stream(byte(30+n), partSize), io.MultiWriter(whole, crc, pm))
		p, err := b.UploadPart(t.Context(), bkt, key, id, n, body, backends.PartOptions{Size: partSize})
		if err != nil {
			t.Fatalf("UploadPart(%d): %v", n, err)
		}
		if want := hex.EncodeToString(pm.Sum(nil)); p.ETag != want {
			t.Fatalf("part %d ETag = %s, want %s", n, p.ETag, want)
		}
		etag.Write(pm.Sum(nil))
		infos = append(infos, p)
	}
	info := completeUpload(t, b, bkt, key, id, completed(infos...), backends.CompleteOptions{})
	if want := fmt.Sprintf("%s-%d", hex.EncodeToString(etag.Sum(nil)), nparts); info.ETag != want || info.Size != partSize*nparts {
		t.Errorf("object ETag %s, size %d; want %s, %d", info.ETag, info.Size, want, partSize*nparts)
	}
	if want := b64(crc.Sum(nil)); info.Checksum.Value != want || info.Checksum.Algorithm != "CRC64NVME" {
		t.Errorf("object checksum %+v, want CRC64NVME %s", info.Checksum, want)
	}
	obj, err := b.GetObject(t.Context(), bkt, key, backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sha(obj.Body)
	obj.Body.Close()
	if want := hex.EncodeToString(whole.Sum(nil)); err != nil || got != want {
		t.Fatalf("object sha256 = %s (%v), want %s", got, err, want)
	}
	obj, err = b.GetObject(t.Context(), bkt, key, backends.GetOptions{PartNumber: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err = sha(obj.Body)
	obj.Body.Close()
	if want, _ := sha(stream(32, partSize)); err != nil || got != want {
		t.Errorf("part 2 sha256 = %s (%v), want %s", got, err, want)
	}
}
