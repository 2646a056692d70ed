package gateway

import (
	"net/http"
	"strconv"
	"testing"
)

// hostileCut is where a raw client stops sending.
type hostileCut struct {
	name string
	// at returns how many bytes of the head and of the body are sent.
	at func(head, body []byte) (int, int)
}

var hostileCuts = []hostileCut{
	{"inside the headers", func(head, body []byte) (int, int) { return len(head) / 2, 0 }},
	{"after the headers", func(head, body []byte) (int, int) { return len(head), 0 }},
	{"mid-body", func(head, body []byte) (int, int) { return len(head), len(body) / 2 }},
	{"last byte missing", func(head, body []byte) (int, int) { return len(head), len(body) - 1 }},
}

// hostileTruncations builds, for one request, a case per cut point and per way
// of hanging up. With a half-close the server sees the body end early and
// S3 answers IncompleteBody; a client that closes outright gets no answer,
// but nothing may be stored either way. A cut inside the headers never
// reaches s3gate: net/http drops the connection or answers a plain 400.
func hostileTruncations(prefix string, r hostileRaw, body []byte) []hostileCase {
	var out []hostileCase
	for _, c := range hostileCuts {
		for _, end := range []struct {
			name string
			how  hangup
		}{{"half-close", hangHalf}, {"close", hangClose}} {
			status, code := 400, "IncompleteBody"
			if end.how == hangClose || c.name == "inside the headers" {
				status, code = 0, ""
			}
			out = append(out, hostileCase{
				name:   prefix + ", " + c.name + ", " + end.name,
				status: status, code: code,
				send: func(t *testing.T, h *hostileEnv) *http.Response {
					head := h.rawHead(t, r)
					nh, nb := c.at(head, body)
					if nh < len(head) {
						return h.sendRaw(t, end.how, head[:nh])
					}
					return h.sendRaw(t, end.how, head, body[:nb])
				},
			})
		}
	}
	return out
}

// TestHostileTruncatedBodies: bodies shorter than their Content-Length,
// clients that hang up mid-request, and bodies longer than declared, for
// PutObject, DeleteObjects and CreateBucket.
func TestHostileTruncatedBodies(t *testing.T) {
	h := newHostileEnv(t)
	original := []byte("the previous version of k")
	keep := h.seed(t,
		hostileObject{hostileBucket, "k", original},
		hostileObject{hostileBucket, "other", []byte("another object")},
		hostileObject{hostileBucket, "fresh", nil},
	)
	body := hostileBytes("truncated", 200<<10)
	doc := []byte(`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>k</Key></Object><Object><Key>other</Key></Object></Delete>`)
	cfg := []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` + testRegion + `</LocationConstraint></CreateBucketConfiguration>`)
	n := int64(len(body))
	var cases []hostileCase
	for _, mode := range []struct{ name, hash string }{
		{"unsigned", "UNSIGNED-PAYLOAD"},
		{"signed", hostileSHA256(body)},
	} {
		cases = append(cases, hostileTruncations("PUT over k, "+mode.name,
			hostileRaw{method: "PUT", target: "/" + hostileBucket + "/k", length: n, payloadHash: mode.hash}, body)...)
		cases = append(cases, hostileTruncations("PUT new key, "+mode.name,
			hostileRaw{method: "PUT", target: "/" + hostileBucket + "/fresh", length: n, payloadHash: mode.hash}, body)...)
	}
	cases = append(cases, hostileTruncations("DeleteObjects",
		hostileRaw{method: "POST", target: "/" + hostileBucket + "?delete", length: int64(len(doc)), payloadHash: hostileSHA256(doc),
			header: map[string]string{"Content-MD5": hostileMD5(doc)}}, doc)...)
	cases = append(cases, hostileTruncations("DeleteObjects unsigned",
		hostileRaw{method: "POST", target: "/" + hostileBucket + "?delete", length: int64(len(doc)),
			header: map[string]string{"Content-MD5": hostileMD5(doc)}}, doc)...)
	cases = append(cases, hostileTruncations("CreateBucket",
		hostileRaw{method: "PUT", target: "/truncated-bucket", length: int64(len(cfg)), payloadHash: hostileSHA256(cfg)}, cfg)...)

	// The whole body arrives, but Content-Length promised more.
	for _, c := range []struct {
		name string
		r    hostileRaw
		body []byte
	}{
		{"PUT", hostileRaw{method: "PUT", target: "/" + hostileBucket + "/k", length: n + 10}, body},
		{"DeleteObjects", hostileRaw{method: "POST", target: "/" + hostileBucket + "?delete", length: int64(len(doc)) + 10,
			header: map[string]string{"Content-MD5": hostileMD5(doc)}}, doc},
		{"CreateBucket", hostileRaw{method: "PUT", target: "/truncated-bucket", length: int64(len(cfg)) + 10}, cfg},
	} {
		cases = append(cases, hostileCase{
			name: "complete " + c.name + " body, Content-Length 10 bytes more, half-close", status: 400, code: "IncompleteBody",
			send: func(t *testing.T, h *hostileEnv) *http.Response {
				return h.sendRaw(t, hangHalf, h.rawHead(t, c.r), c.body)
			},
		})
	}

	// Content-Length shorter than the body: the server reads only what was
	// declared, so the signed hash or the digest of the whole body fails.
	// (The rest of the bytes are taken for the next request on the
	// connection, which is not HTTP.)
	for _, c := range []struct {
		name   string
		r      hostileRaw
		status int
		code   string
	}{
		{"signed", hostileRaw{method: "PUT", target: "/" + hostileBucket + "/k", length: n - 1, payloadHash: hostileSHA256(body)}, 400, "XAmzContentSHA256Mismatch"},
		{"Content-MD5", hostileRaw{method: "PUT", target: "/" + hostileBucket + "/k", length: n - 1,
			header: map[string]string{"Content-MD5": hostileMD5(body)}}, 400, "BadDigest"},
		{"DeleteObjects Content-MD5", hostileRaw{method: "POST", target: "/" + hostileBucket + "?delete", length: int64(len(doc)) - 1,
			header: map[string]string{"Content-MD5": hostileMD5(doc)}}, 400, "BadDigest"},
	} {
		cases = append(cases, hostileCase{
			name: c.name + " body one byte longer than Content-Length", status: c.status, code: c.code,
			send: func(t *testing.T, h *hostileEnv) *http.Response {
				return h.sendRaw(t, hangOpen, h.rawHead(t, c.r), body[:0], func() []byte {
					if c.r.method == "POST" {
						return doc
					}
					return body
				}())
			},
		})
	}
	h.refuseAll(t, cases, keep)
	expectStatus(t, h.do(req{method: "HEAD", path: "/truncated-bucket"}), 404)
}

// testBytes returns n deterministic bytes that do not repeat quickly.
func hostileBytes(seed string, n int) []byte {
	out := make([]byte, 0, n+32)
	block := []byte(seed)
	for len(out) < n {
		s := hostileSHA256(append(block, strconv.Itoa(len(out))...))
		out = append(out, s...)
	}
	return out[:n]
}
