package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

func TestEscape(t *testing.T) {
	tests := []struct{ seg, want string }{
		{"", ""},
		{"plain-Name_0.9", "plain-Name_0.9"},
		{"..", ".."},
		{" ", "%20"},
		{"\x00", "%00"},
		{"%", "%25"},
		{"~", "%7E"},
		{"ü", "%C3%BC"},
		{`a\b:c`, "a%5Cb%3Ac"},
	}
	for _, tc := range tests {
		if got := escape(tc.seg); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.seg, got, tc.want)
		}
		if got, ok := unescape(tc.want); !ok || got != tc.seg {
			t.Errorf("unescape(%q) = %q, %v; want %q", tc.want, got, ok, tc.seg)
		}
	}
	for _, bad := range []string{"%", "%4", "%G0", "a%2"} {
		if _, ok := unescape(bad); ok {
			t.Errorf("unescape(%q) succeeded", bad)
		}
	}
}

// FuzzEntryName checks every segment gets a usable, canonical name that
// leads back to it.
func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a", "~", "%41", "\x00", strings.Repeat("x", 253),
		strings.Repeat("x", 254), strings.Repeat("ü", 43), strings.Repeat("ü", 42), strings.Repeat("%", 1024)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seg string) {
		if strings.Contains(seg, "/") {
			return
		}
		for _, suffix := range []string{objSuffix, dirSuffix} {
			name := entryName(seg, suffix)
			if len(name) > nameMax || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
				t.Fatalf("entryName(%q) = %q: not a usable file name", seg, name)
			}
			if !plausible(name, suffix) || strings.HasSuffix(name, objSuffix) != (suffix == objSuffix) {
				t.Fatalf("entryName(%q) = %q is not plausible with suffix %s", seg, name, suffix)
			}
			base := strings.TrimSuffix(name, suffix)
			if isHashed(base) != (len(escape(seg))+len(suffix) > nameMax) {
				t.Fatalf("entryName(%q) = %q: hashed when it need not be, or not when it must", seg, name)
			}
			if !isHashed(base) {
				if got, ok := unescape(base); !ok || got != seg {
					t.Fatalf("unescape(%q) = %q, %v; want %q", base, got, ok, seg)
				}
			}
		}
	})
}

func TestHashedNamesDiffer(t *testing.T) {
	p := strings.Repeat("p", 400)
	seen := map[string]string{}
	for _, seg := range []string{p, p + "a", p + "b", "a" + p, strings.Repeat("ü", 200), strings.Repeat("ü", 201)} {
		name := entryName(seg, objSuffix)
		if !isHashed(name) {
			t.Errorf("entryName(%.10q…) = %q is not hashed", seg, name)
		}
		if other, ok := seen[name]; ok {
			t.Errorf("segments %.10q… and %.10q… share the name %q", seg, other, name)
		}
		seen[name] = seg
	}
}

func TestNonCanonicalNames(t *testing.T) {
	for _, name := range []string{"%61.o", "%2e.o", "a%7e.o", "%c3%bc.o", "a.txt", "a", "%zz.d"} {
		suffix := objSuffix
		if strings.HasSuffix(name, dirSuffix) {
			suffix = dirSuffix
		}
		if plausible(name, suffix) {
			t.Errorf("plausible(%q) = true", name)
		}
	}
}

func TestValidBucketName(t *testing.T) {
	valid := []string{"abc", "my-bucket", "my.bucket.1", "0-0", strings.Repeat("a", 63), "1.2.3"}
	invalid := []string{"", "ab", strings.Repeat("a", 64), "Abc", "a_b", "-ab", "ab-", ".ab", "ab.", "a..b",
		"192.168.0.1", "a/b", "..", "xn--abc", "sthree-abc", "abc-s3alias", "abc--ol-s3", "abc.mrap", "a b", "ab\x00"}
	for _, n := range valid {
		if !backends.ValidBucketName(n) {
			t.Errorf("backends.ValidBucketName(%q) = false", n)
		}
	}
	for _, n := range invalid {
		if backends.ValidBucketName(n) {
			t.Errorf("backends.ValidBucketName(%q) = true", n)
		}
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want error
	}{
		{"a", nil},
		{"\x00", nil},
		{strings.Repeat("k", 1024), nil},
		{"", backends.ErrInvalidKey},
		{"\xff", backends.ErrInvalidKey},
		{strings.Repeat("k", 1025), backends.ErrKeyTooLong},
	}
	for _, tc := range tests {
		if err := backends.CheckKey(tc.key); !errors.Is(err, tc.want) {
			t.Errorf("backends.CheckKey(%.20q) = %v, want %v", tc.key, err, tc.want)
		}
	}
}

func TestFooterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		data string
		meta map[string]string
	}{
		{"empty", "", nil},
		{"small", "hello", map[string]string{"k": "v"}},
		// Metadata longer than one tail read takes a second pread.
		{"big metadata", "data", map[string]string{"big": strings.Repeat("m", 3*tailRead)}},
	}
	for _, tc := range tests {
		m := &meta{Version: footerVersion, Key: "dir/" + tc.name, Size: int64(len(tc.data)), ETag: "e", Modified: 42, Metadata: tc.meta}
		m.ContentType = "text/plain"
		footer, err := encodeFooter(m)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, append([]byte(tc.data), footer...), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readFooter(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: readFooter: %v", tc.name, err)
		}
		if got.Key != m.Key || got.Size != m.Size || got.ContentType != "text/plain" || got.Modified != 42 ||
			len(got.Metadata) != len(tc.meta) || got.Metadata["big"] != tc.meta["big"] {
			t.Errorf("%s: readFooter = %+v, want %+v", tc.name, got, m)
		}
	}
}
