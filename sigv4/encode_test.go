package sigv4

import (
	"testing"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

func TestEncode(t *testing.T) {
	cases := []struct{ in, path, query string }{
		{"", "", ""},
		{"/bucket/key", "/bucket/key", "%2Fbucket%2Fkey"},
		{"a b+c", "a%20b%2Bc", "a%20b%2Bc"},
		{"100%", "100%25", "100%25"},
		{"100%25", "100%2525", "100%2525"},
		{"AZaz09-._~", "AZaz09-._~", "AZaz09-._~"},
		{"user@example.com", "user%40example.com", "user%40example.com"},
		{"//a//", "//a//", "%2F%2Fa%2F%2F"},
		{"ü", "%C3%BC", "%C3%BC"},
		{"!*'();:&=$,?#[]", "%21%2A%27%28%29%3B%3A%26%3D%24%2C%3F%23%5B%5D", "%21%2A%27%28%29%3B%3A%26%3D%24%2C%3F%23%5B%5D"},
		{"\x00\x7f\xff", "%00%7F%FF", "%00%7F%FF"},
	}
	for _, c := range cases {
		if got := EncodePath(c.in); got != c.path {
			t.Errorf("EncodePath(%q) = %q, want %q", c.in, got, c.path)
		}
		if got := EncodeQuery(c.in); got != c.query {
			t.Errorf("EncodeQuery(%q) = %q, want %q", c.in, got, c.query)
		}
	}
}

// TestEncodeMatchesSDK compares every byte value against the encoder the
// AWS SDK uses for S3 object keys.
func TestEncodeMatchesSDK(t *testing.T) {
	for b := 0; b < 256; b++ {
		s := "a" + string([]byte{byte(b)}) + "/z"
		if got, want := EncodePath(s), httpbinding.EscapePath(s, false); got != want {
			t.Errorf("EncodePath(%q) = %q, SDK %q", s, got, want)
		}
		if got, want := EncodeQuery(s), httpbinding.EscapePath(s, true); got != want {
			t.Errorf("EncodeQuery(%q) = %q, SDK %q", s, got, want)
		}
	}
}
