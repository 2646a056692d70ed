package gateway

import (
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/checksum"
)

// atDoc is GetObjectAttributes' response document. Pointers tell an
// absent element from an empty one.
type atDoc struct {
	XMLName  xml.Name `xml:"GetObjectAttributesResponse"`
	ETag     *string
	Checksum *struct {
		mpSums
		ChecksumType string
	}
	ObjectParts *struct {
		PartsCount           *int
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		Parts                []struct {
			PartNumber int
			Size       int64
			mpSums
		} `xml:"Part"`
	}
	StorageClass *string
	ObjectSize   *int64
}

const atAll = "ETag,Checksum,ObjectParts,StorageClass,ObjectSize"

func (e *env) atGet(bucket, key string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	resp := e.do(req{path: mpObjectPath(bucket, key) + "?attributes", header: hdr})
	body := expectStatus(e.t, resp, 200)
	return resp, body
}

func atDecode(t *testing.T, body []byte) atDoc {
	t.Helper()
	var d atDoc
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return d
}

// An object written in one PUT: its ETag (unquoted), checksum, storage
// class and size, and no ObjectParts; only the attributes asked for.
func TestGetObjectAttributesSinglePut(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("attrs-single")
	body := []byte(strings.Repeat("attributes ", 333))
	sum := mpFull(t, checksum.SHA256, body)
	expectStatus(t, e.put("attrs-single", "obj", body, map[string]string{mpHeader(checksum.SHA256): sum}), 200)
	head := e.mpHead("attrs-single", "obj", nil)

	resp, raw := e.atGet("attrs-single", "obj", map[string]string{"x-amz-object-attributes": atAll})
	d := atDecode(t, raw)
	if d.ETag == nil || *d.ETag != mpMD5(body) {
		t.Errorf("ETag %v, want %s unquoted", d.ETag, mpMD5(body))
	}
	if d.Checksum == nil || d.Checksum.SHA256 != sum || d.Checksum.ChecksumType != "FULL_OBJECT" || len(d.Checksum.present()) != 1 {
		t.Errorf("Checksum %+v, want SHA256 %s FULL_OBJECT", d.Checksum, sum)
	}
	if d.ObjectParts != nil {
		t.Errorf("ObjectParts for a single PUT: %+v", d.ObjectParts)
	}
	if d.StorageClass == nil || *d.StorageClass != "STANDARD" || d.ObjectSize == nil || *d.ObjectSize != int64(len(body)) {
		t.Errorf("StorageClass %v ObjectSize %v", d.StorageClass, d.ObjectSize)
	}
	if resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Last-Modified") != head.Header.Get("Last-Modified") {
		t.Errorf("Last-Modified %q, HEAD says %q", resp.Header.Get("Last-Modified"), head.Header.Get("Last-Modified"))
	}

	// Only what is asked for.
	for _, c := range []struct {
		attrs string
		want  string
	}{
		{"ETag", "ETag"},
		{"ObjectSize", "ObjectSize"},
		{"StorageClass,Checksum", "Checksum StorageClass"},
		{"ETag, ObjectSize", "ETag ObjectSize"},
	} {
		_, raw := e.atGet("attrs-single", "obj", map[string]string{"x-amz-object-attributes": c.attrs})
		d := atDecode(t, raw)
		var got []string
		for name, present := range map[string]bool{"ETag": d.ETag != nil, "Checksum": d.Checksum != nil, "ObjectParts": d.ObjectParts != nil,
			"StorageClass": d.StorageClass != nil, "ObjectSize": d.ObjectSize != nil} {
			if present {
				got = append(got, name)
			}
		}
		if strings.Join(mpSorted(got), " ") != c.want {
			t.Errorf("asked %q: got %v", c.attrs, got)
		}
	}

	expectError(t, e.do(req{path: "/attrs-single/obj?attributes", header: map[string]string{"x-amz-object-attributes": "ETag,Colour"}}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/attrs-single/missing?attributes", header: map[string]string{"x-amz-object-attributes": "ETag"}}), 404, "NoSuchKey")
	expectError(t, e.do(req{path: "/no-such-bucket/obj?attributes", header: map[string]string{"x-amz-object-attributes": "ETag"}}), 404, "NoSuchBucket")

	out, err := e.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{Bucket: aws.String("attrs-single"), Key: aws.String("obj"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass, types.ObjectAttributesObjectParts}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != mpMD5(body) || aws.ToInt64(out.ObjectSize) != int64(len(body)) || out.StorageClass != types.StorageClassStandard ||
		out.Checksum == nil || aws.ToString(out.Checksum.ChecksumSHA256) != sum || out.ObjectParts != nil || out.LastModified == nil {
		t.Errorf("SDK GetObjectAttributes %+v", out)
	}
}

// A multipart object: the parts count, parts paged with x-amz-max-parts
// and x-amz-part-number-marker, each with its size and (COMPOSITE) its
// checksum.
func TestGetObjectAttributesMultipart(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("attrs-multi")
	big, tail := mpBig(), mpBytes(50, 999)
	parts := [][]byte{big, big, tail}
	id := e.mpCreate("attrs-multi", "obj", map[string]string{"x-amz-checksum-algorithm": "SHA256"})
	for n, p := range parts {
		e.mpPartOK("attrs-multi", "obj", id, n+1, p, map[string]string{mpHeader(checksum.SHA256): mpFull(t, checksum.SHA256, p)})
	}
	e.mpCompleteOK("attrs-multi", "obj", id, mpWithSums(t, checksum.SHA256, parts...), mpETag(parts...))
	composite := mpComposite(t, checksum.SHA256, parts...)
	size := int64(2*len(big) + len(tail))

	_, raw := e.atGet("attrs-multi", "obj", map[string]string{"x-amz-object-attributes": atAll})
	d := atDecode(t, raw)
	if d.ETag == nil || *d.ETag != mpETag(parts...) || d.ObjectSize == nil || *d.ObjectSize != size {
		t.Errorf("ETag %v ObjectSize %v", d.ETag, d.ObjectSize)
	}
	// S3 may report a composite checksum with or without its "-N".
	if d.Checksum == nil || (d.Checksum.SHA256 != composite && d.Checksum.SHA256 != strings.TrimSuffix(composite, "-3")) || d.Checksum.ChecksumType != "COMPOSITE" {
		t.Errorf("Checksum %+v, want SHA256 %s COMPOSITE", d.Checksum, composite)
	}
	if d.ObjectParts == nil || len(d.ObjectParts.Parts) != 3 || d.ObjectParts.IsTruncated {
		t.Fatalf("ObjectParts %+v: %s", d.ObjectParts, raw)
	}
	for i, p := range d.ObjectParts.Parts {
		if p.PartNumber != i+1 || p.Size != int64(len(parts[i])) || p.SHA256 != mpFull(t, checksum.SHA256, parts[i]) {
			t.Errorf("part %d: %+v", i+1, p)
		}
	}

	// Paging, raw and through the SDK.
	pages := []struct {
		max, marker int
		want        []int
		truncated   bool
		next        int
	}{
		{1, 0, []int{1}, true, 1},
		{1, 1, []int{2}, true, 2},
		{1, 2, []int{3}, false, 3},
		{2, 0, []int{1, 2}, true, 2},
		{2, 2, []int{3}, false, 3},
		{5, 1, []int{2, 3}, false, 3},
		{1000, 3, nil, false, 0},
	}
	for _, pg := range pages {
		_, raw := e.atGet("attrs-multi", "obj", map[string]string{"x-amz-object-attributes": "ObjectParts",
			"x-amz-max-parts": strconv.Itoa(pg.max), "x-amz-part-number-marker": strconv.Itoa(pg.marker)})
		op := atDecode(t, raw).ObjectParts
		if op == nil {
			t.Fatalf("max %d marker %d: no ObjectParts", pg.max, pg.marker)
		}
		var got []int
		for _, p := range op.Parts {
			got = append(got, p.PartNumber)
		}
		if atInts(got) != atInts(pg.want) ||
			op.IsTruncated != pg.truncated || op.MaxParts != pg.max || op.PartNumberMarker != pg.marker || (pg.truncated && op.NextPartNumberMarker != pg.next) {
			t.Errorf("max %d marker %d: parts %v truncated %v max %d marker %d next %d; want %v %v next %d",
				pg.max, pg.marker, got, op.IsTruncated, op.MaxParts, op.PartNumberMarker, op.NextPartNumberMarker, pg.want, pg.truncated, pg.next)
		}
	}

	ctx := context.Background()
	var got []int
	in := &s3.GetObjectAttributesInput{Bucket: aws.String("attrs-multi"), Key: aws.String("obj"), MaxParts: aws.Int32(2),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesChecksum}}
	for i := 0; i < 5; i++ {
		out, err := e.client.GetObjectAttributes(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.ObjectParts == nil {
			t.Fatal("SDK: no ObjectParts")
		}
		for _, p := range out.ObjectParts.Parts {
			got = append(got, int(aws.ToInt32(p.PartNumber)))
		}
		if !aws.ToBool(out.ObjectParts.IsTruncated) {
			break
		}
		in.PartNumberMarker = out.ObjectParts.NextPartNumberMarker
	}
	if atInts(got) != "[1 2 3]" {
		t.Errorf("SDK pages: %v", got)
	}
}

func atInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// ObjectParts carries the parts count in S3's element, PartsCount, which
// the SDKs read as TotalPartsCount.
func TestGetObjectAttributesPartsCount(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("attrs-count")
	p := []byte("one small part")
	id := e.mpCreate("attrs-count", "obj", map[string]string{"x-amz-checksum-algorithm": "CRC32"})
	e.mpPartOK("attrs-count", "obj", id, 1, p, map[string]string{mpHeader(checksum.CRC32): mpFull(t, checksum.CRC32, p)})
	e.mpCompleteOK("attrs-count", "obj", id, mpWithSums(t, checksum.CRC32, p), mpETag(p))

	_, raw := e.atGet("attrs-count", "obj", map[string]string{"x-amz-object-attributes": "ObjectParts"})
	if op := atDecode(t, raw).ObjectParts; op == nil || op.PartsCount == nil || *op.PartsCount != 1 {
		t.Errorf("no <PartsCount>1</PartsCount> in ObjectParts: %s", raw)
	}
	out, err := e.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{Bucket: aws.String("attrs-count"), Key: aws.String("obj"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}})
	if err != nil {
		t.Fatal(err)
	}
	if out.ObjectParts == nil || aws.ToInt32(out.ObjectParts.TotalPartsCount) != 1 {
		t.Errorf("SDK TotalPartsCount %v", out.ObjectParts)
	}
}
