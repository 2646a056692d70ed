package gateway

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// An empty-bodied request with Expect: 100-continue gets its 100 Continue
// before the final answer, as from S3 (botocore depends on it).
func TestExpectContinueOnEmptyBody(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("exp")
	hr, _ := http.NewRequest("PUT", e.url+"/exp/empty", http.NoBody)
	hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	hr.Header.Set("Expect", "100-continue")
	signRaw(t, hr, "UNSIGNED-PAYLOAD")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("PUT /exp/empty HTTP/1.1\r\nHost: " + hr.Host + "\r\nContent-Length: 0\r\n")
	for k, v := range hr.Header {
		b.WriteString(k + ": " + v[0] + "\r\n")
	}
	b.WriteString("\r\n")
	conn.Write([]byte(b.String()))
	br := bufio.NewReader(conn)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "HTTP/1.1 100") {
		t.Fatalf("first status line %q (%v)", first, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue carries headers: %q", blank)
	}
	resp, err := http.ReadResponse(bufio.NewReader(br), hr)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, resp, 200)
	if e.get("exp", "empty") == nil {
		t.Fatal("empty object not stored")
	}
}

func TestHeaderLimits(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.MaxHeaderBytes = 8 << 10 })
	e.mkBucket("hdr")
	big := map[string]string{"x-amz-meta-big": strings.Repeat("v", 9<<10)}
	expectError(t, e.put("hdr", "k", []byte("x"), big), 400, "RequestHeaderSectionTooLarge")
	many := map[string]string{}
	for i := 0; i < 300; i++ {
		many["X-Filler-"+strconv.Itoa(i)] = "v"
	}
	expectError(t, e.do(req{path: "/hdr", header: many, anonymous: true}), 400, "RequestHeaderSectionTooLarge")
	if e.get("hdr", "k") != nil {
		t.Fatal("oversized request stored an object")
	}
	expectStatus(t, e.put("hdr", "k", []byte("x"), map[string]string{"x-amz-meta-small": "v"}), 200)
}
