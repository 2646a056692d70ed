package gateway

import (
	"encoding/xml"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/checksum"
)

// hostileBillionLaughs is the classic entity expansion: &lol9; would be 10^9
// "lol"s if a parser expanded it.
const hostileBillionLaughs = `<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>`

// deleteDoc is a DeleteObjects document for the keys (escaped).
func hostileDeleteDoc(keys ...string) string {
	var b strings.Builder
	b.WriteString(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for _, k := range keys {
		b.WriteString("<Object><Key>")
		xml.EscapeText(&b, []byte(k))
		b.WriteString("</Key></Object>")
	}
	b.WriteString("</Delete>")
	return b.String()
}

// deleteReq is a signed DeleteObjects of body on the victim bucket, with
// the body's Content-MD5 (which S3 requires) unless hdr overrides it.
func hostileDeleteReq(body string, hdr map[string]string) req {
	h := map[string]string{"Content-MD5": hostileMD5([]byte(body))}
	for k, v := range hdr {
		if v == "" {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return req{method: "POST", path: "/" + hostileBucket + "?delete", body: []byte(body), header: h}
}

// TestHostileDeleteObjectsXML sends DeleteObjects documents that are not
// what S3's schema allows: none may delete anything.
func TestHostileDeleteObjectsXML(t *testing.T) {
	h := newHostileEnv(t)
	long := strings.Repeat("k", 1024)
	keep := h.seed(t,
		hostileObject{hostileBucket, "a", []byte("object a")},
		hostileObject{hostileBucket, "b", []byte("object b")},
		hostileObject{hostileBucket, long, []byte("a key of exactly 1024 bytes")},
		hostileObject{hostileBucket, "\uFFFD", []byte("a key that is U+FFFD")},
		hostileObject{hostileBucket, "lol", []byte("what an expanded entity would name")},
	)
	valid := hostileDeleteDoc("a")
	many := func(n int, obj string) string {
		return `<Delete>` + strings.Repeat(obj, n) + `</Delete>`
	}
	cases := []hostileCase{
		{name: "not XML", r: hostileDeleteReq("this is not XML at all", nil), status: 400, code: "MalformedXML"},
		{name: "empty body", r: hostileDeleteReq("", nil), status: 400, code: "MalformedXML"},
		{name: "truncated document", r: hostileDeleteReq(valid[:len(valid)/2], nil), status: 400, code: "MalformedXML"},
		{name: "truncated before the root ends", r: hostileDeleteReq(strings.TrimSuffix(valid, "</Delete>"), nil), status: 400, code: "MalformedXML"},
		{name: "wrong root element", r: hostileDeleteReq(`<Remove><Object><Key>a</Key></Object></Remove>`, nil), status: 400, code: "MalformedXML"},
		{name: "no Object", r: hostileDeleteReq(`<Delete><Quiet>true</Quiet></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "Object without Key", r: hostileDeleteReq(`<Delete><Object><VersionId>null</VersionId></Object><Object><Key>a</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "Quiet not a boolean", r: hostileDeleteReq(`<Delete><Quiet>perhaps</Quiet><Object><Key>a</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "1001 objects", r: hostileDeleteReq(many(1001, "<Object><Key>a</Key></Object>"), nil), status: 400, code: "MalformedXML"},
		{name: "100000 objects", r: hostileDeleteReq(many(100000, "<Object><Key>a</Key></Object>"), nil), status: 400, code: "MalformedXML"},
		{name: "100000 empty objects", r: hostileDeleteReq(many(100000, "<Object/>"), nil), status: 400, code: "MalformedXML"},
		{name: "deeply nested unknown elements", r: hostileDeleteReq(`<Delete><Object><Key>a</Key>`+strings.Repeat("<x>", 100000)+strings.Repeat("</x>", 100000)+`</Object></Delete>`, nil),
			status: 400, code: "MalformedXML"},
		{name: "deeply nested, never closed", r: hostileDeleteReq(valid[:len(valid)-len("</Delete>")]+strings.Repeat("<x>", 300000), nil), status: 400, code: "MalformedXML"},
		{name: "entity expansion", r: hostileDeleteReq(hostileBillionLaughs+`<Delete><Object><Key>&lol9;</Key></Object><Object><Key>a</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "internal entity", r: hostileDeleteReq(`<!DOCTYPE Delete [<!ENTITY k "lol">]><Delete><Object><Key>&k;</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "external entity", r: hostileDeleteReq(`<!DOCTYPE Delete [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object><Object><Key>a</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "invalid UTF-8 in a key", r: hostileDeleteReq("<Delete><Object><Key>a\xff</Key></Object><Object><Key>b</Key></Object></Delete>", nil), status: 400, code: "MalformedXML"},
		{name: "invalid UTF-8 alone", r: hostileDeleteReq("<Delete><Object><Key>\xc0\xae\xc0\xae</Key></Object></Delete>", nil), status: 400, code: "MalformedXML"},
		{name: "control character reference", r: hostileDeleteReq(`<Delete><Object><Key>&#1;</Key></Object><Object><Key>a</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "surrogate character reference", r: hostileDeleteReq(`<Delete><Object><Key>&#xD800;</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "element inside Key", r: hostileDeleteReq(`<Delete><Object><Key><x>a</x>b</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "two Keys in one Object", r: hostileDeleteReq(`<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>`, nil), status: 400, code: "MalformedXML"},
		{name: "trailing garbage after the root", r: hostileDeleteReq(valid+"<garbage", nil), status: 400, code: "MalformedXML"},
		{name: "second root element", r: hostileDeleteReq(hostileDeleteDoc("b")+hostileDeleteDoc("a"), nil), status: 400, code: "MalformedXML"},
		{name: "body over the limit", r: hostileDeleteReq(`<Delete><Object><Key>a</Key></Object>`+strings.Repeat(" ", maxXMLBody)+`</Delete>`, nil), status: 400, code: "MaxMessageLengthExceeded"},
		{name: "body over the limit, not XML", r: hostileDeleteReq(strings.Repeat("x", maxXMLBody+1), nil), status: 400, code: "MaxMessageLengthExceeded"},
		// A DeleteObjects without Content-MD5 or x-amz-checksum-* is
		// accepted on purpose (S3 requires one): the signed payload hash
		// already covers the document. TestDeleteObjects sends none.
		{name: "Content-MD5 of another document", r: hostileDeleteReq(valid, map[string]string{"Content-MD5": hostileMD5([]byte(hostileDeleteDoc("b")))}), status: 400, code: "BadDigest"},
		{name: "Content-MD5 malformed", r: hostileDeleteReq(valid, map[string]string{"Content-MD5": "nope"}), status: 400, code: "InvalidDigest"},
		{name: "CRC32 of another document", r: hostileDeleteReq(valid, map[string]string{"Content-MD5": "", "x-amz-checksum-crc32": hostileChecksum(checksum.CRC32, []byte(hostileDeleteDoc("b")))}), status: 400, code: "BadDigest"},
		{name: "signed hash of another document", r: func() req {
			r := hostileDeleteReq(valid, nil)
			r.payloadHash = hostileSHA256([]byte(hostileDeleteDoc("b")))
			return r
		}(), status: 400, code: "XAmzContentSHA256Mismatch"},
	}
	h.refuseAll(t, cases, keep)

	// A key over 1024 bytes inside a valid document is answered per key:
	// the request succeeds, the key gets an Error, and the 1024-byte key
	// that is its prefix survives.
	t.Run("key over 1024 bytes", func(t *testing.T) {
		sh := h.with(t)
		before := sh.snapshot(t)
		b := expectStatus(t, sh.do(hostileDeleteReq(hostileDeleteDoc(long+"k"), nil)), 200)
		var res hostileDeleteResult
		if err := xml.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Deleted) != 0 || len(res.Errors) != 1 || res.Errors[0].Key != long+"k" || res.Errors[0].Code != "KeyTooLongError" {
			t.Errorf("answer %s, want one Error with KeyTooLongError for the long key", b)
		}
		sh.settle(t)
		sh.unchanged(t, before)
		sh.intact(t, keep)
	})

	// A conditional delete whose ETag does not match: S3 reports
	// PreconditionFailed for the key and keeps the object.
	t.Run("ETag of another version", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				t.Logf("known difference from S3: the <ETag> of an <Object> (conditional delete) is ignored and the object is deleted")
			}
		}()
		sh := h.with(t)
		before := sh.snapshot(t)
		doc := `<Delete><Object><Key>a</Key><ETag>"` + md5hex("not a's content") + `"</ETag></Object></Delete>`
		b := expectStatus(t, sh.do(hostileDeleteReq(doc, nil)), 200)
		var res hostileDeleteResult
		if err := xml.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Deleted) != 0 || len(res.Errors) != 1 || res.Errors[0].Key != "a" || res.Errors[0].Code != "PreconditionFailed" {
			t.Errorf("answer %s, want one Error with PreconditionFailed for a", b)
		}
		sh.settle(t)
		sh.unchanged(t, before)
		sh.intact(t, keep)
		if t.Failed() {
			sh.restore(t, keep)
		}
	})

	// The largest document S3's limits allow: 1000 keys of 1024 bytes, each
	// byte escaped ("&amp;"). It is valid and must be acted on.
	t.Run("largest valid document", func(t *testing.T) {
		sh := h.with(t)
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = strings.Repeat("&", 1024-4) + fmt.Sprintf("%04d", i)
		}
		doc := hostileDeleteDoc(keys...)
		t.Logf("document of %d bytes", len(doc))
		resp := sh.do(hostileDeleteReq(doc, nil))
		b := expectStatus(t, resp, 200)
		var res hostileDeleteResult
		if err := xml.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Deleted) != 1000 || len(res.Errors) != 0 {
			t.Errorf("%d deleted, %d errors; want 1000 deleted", len(res.Deleted), len(res.Errors))
		}
	})
}

// hostileDeleteResult is a DeleteResult as a client decodes it.
type hostileDeleteResult struct {
	Deleted []struct{ Key string }
	Errors  []struct{ Key, Code, Message string } `xml:"Error"`
}

// createReq is a signed CreateBucket of the bucket with a configuration
// body.
func hostileCreateReq(bucket, body string) req {
	return req{method: "PUT", path: "/" + bucket, body: []byte(body)}
}

// TestHostileCreateBucketXML sends CreateBucket configurations S3 refuses:
// no bucket may appear.
func TestHostileCreateBucketXML(t *testing.T) {
	h := newHostileEnv(t)
	const nb = "hostile-new-bucket"
	cfg := func(inner string) string {
		return `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + inner + `</CreateBucketConfiguration>`
	}
	cases := []hostileCase{
		{name: "not XML", r: hostileCreateReq(nb, "not xml"), status: 400, code: "MalformedXML"},
		{name: "truncated", r: hostileCreateReq(nb, cfg("<LocationConstraint>us-east-1")), status: 400, code: "MalformedXML"},
		{name: "wrong root element", r: hostileCreateReq(nb, `<BucketConfiguration><LocationConstraint></LocationConstraint></BucketConfiguration>`), status: 400, code: "MalformedXML"},
		{name: "entity expansion", r: hostileCreateReq(nb, hostileBillionLaughs+cfg("<LocationConstraint>&lol9;</LocationConstraint>")), status: 400, code: "MalformedXML"},
		{name: "external entity", r: hostileCreateReq(nb, `<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/hostname">]>`+cfg("<LocationConstraint>&x;</LocationConstraint>")), status: 400, code: "MalformedXML"},
		{name: "invalid UTF-8", r: hostileCreateReq(nb, cfg("<LocationConstraint>\xff\xfe</LocationConstraint>")), status: 400, code: "MalformedXML"},
		{name: "deeply nested, never closed", r: hostileCreateReq(nb, `<CreateBucketConfiguration>`+strings.Repeat("<x>", 20000)), status: 400, code: "MalformedXML"},
		{name: "over the size limit", r: hostileCreateReq(nb, cfg("<LocationConstraint></LocationConstraint>"+strings.Repeat(" ", 64<<10))), status: 400, code: "MaxMessageLengthExceeded"},
		{name: "another region", r: hostileCreateReq(nb, cfg("<LocationConstraint>eu-west-1</LocationConstraint>")), status: 400, code: "IllegalLocationConstraintException"},
		{name: "us-east-1 spelled out", r: hostileCreateReq(nb, cfg("<LocationConstraint>us-east-1</LocationConstraint>")), status: 400, code: "InvalidLocationConstraint"},
		{name: "two LocationConstraints", r: hostileCreateReq(nb, cfg("<LocationConstraint>eu-west-1</LocationConstraint><LocationConstraint></LocationConstraint>")), status: 400, code: "MalformedXML"},
		{name: "trailing garbage", r: hostileCreateReq(nb, cfg("")+"<garbage"), status: 400, code: "MalformedXML"},
		{name: "signed hash of another body", r: func() req {
			r := hostileCreateReq(nb, cfg(""))
			r.payloadHash = hostileSHA256([]byte("other"))
			return r
		}(), status: 400, code: "XAmzContentSHA256Mismatch"},
		{name: "anonymous with a configuration", r: func() req {
			r := hostileCreateReq(nb, cfg(""))
			r.anonymous = true
			return r
		}(), status: 403, code: "AccessDenied"},
		{name: "invalid bucket name with a configuration", r: hostileCreateReq("Bad_Bucket", cfg("")), status: 400, code: "InvalidBucketName"},
	}
	h.refuseAll(t, cases, []hostileObject{{bucket: nb}})
}

// TestHostileXMLMemory sends documents within the size limit that are
// built to make a parser allocate: deep nesting, huge attribute lists,
// tens of thousands of elements. Each must be refused, quickly, without
// the gateway allocating much more than the document itself; the largest
// valid document, accepted within the same budget, shows the budget is
// fair.
func TestHostileXMLMemory(t *testing.T) {
	h := newHostileEnv(t)
	keep := h.seed(t, hostileObject{hostileBucket, "a", []byte("object a")})
	fill := func(unit string, extra int) int { return (maxXMLBody - extra) / len(unit) }
	// None of these documents is valid whatever a parser makes of
	// unknown elements and attributes: none has an <Object> within the
	// 1000 allowed.
	docs := []struct {
		name, doc string
		status    int
	}{
		{"nesting never closed", `<Delete>` + strings.Repeat("<x>", fill("<x>", 20)), 400},
		{"nesting closed", `<Delete>` + strings.Repeat("<x>", fill("<x></x>", 20)) + strings.Repeat("</x>", fill("<x></x>", 20)) + "</Delete>", 400},
		{"attributes on the root", `<Delete ` + strings.Repeat(`a="b" `, fill(`a="b" `, 100)) + `></Delete>`, 400},
		{"namespace declarations", `<Delete ` + strings.Repeat(`xmlns:a="b" `, fill(`xmlns:a="b" `, 100)) + `></Delete>`, 400},
		{"objects past 1000", `<Delete>` + strings.Repeat(`<Object><Key>a</Key></Object>`, fill(`<Object><Key>a</Key></Object>`, 20)) + `</Delete>`, 400},
		// For scale: the largest document without escapes, which succeeds.
		{"1000 keys of 1024 bytes", hostileDeleteDoc(func() []string {
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = strings.Repeat("z", 1020) + fmt.Sprintf("%04d", i)
			}
			return keys
		}()...), 200},
	}
	// The budget: eight times the document, plus 32 MiB for everything
	// else a request allocates (client and backend included: they run in
	// this process, under -race too).
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			sh := h.with(t)
			budget := uint64(8*len(d.doc) + 32<<20)
			r := hostileDeleteReq(d.doc, nil)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			resp := sh.do(r)
			if d.status == 200 {
				expectStatus(t, resp, 200)
			} else {
				hostileCheck(t, resp, 400, "MalformedXML")
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte document: %d MiB allocated, %v", len(d.doc), alloc>>20, elapsed)
			if alloc > budget {
				t.Errorf("a %d-byte document made the process allocate %d MiB, over the budget of %d MiB", len(d.doc), alloc>>20, budget>>20)
			}
			if elapsed > 5*time.Second {
				t.Errorf("refusing a %d-byte document took %v", len(d.doc), elapsed)
			}
			sh.intact(t, keep)
			sh.serving(t)
		})
	}
}
