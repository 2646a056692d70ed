package search

import (
	"strings"
	"testing"
)

func TestExtractText(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, in, want string
	}{
		// Anything but HTML is kept as it is, white space folded.
		{"plain", "text/plain", "  The  quick\tbrown\r\nfox \n\n jumps  ", "The quick brown fox jumps"},
		{"plain empty", "text/plain", "", ""},
		{"plain only white space", "text/plain", " \t\r\n\v\f ", ""},
		{"plain with markup is not HTML", "text/plain", "<b>bold</b> &amp; <script>kept</script>", "<b>bold</b> &amp; <script>kept</script>"},
		{"plain unicode white space", "text/plain", "one\u00a0two\u2003three\u3000four", "one two three four"},
		{"markdown", "text/markdown", "# Release notes\n\n* fixed *the* bug\n* added `--flag`\n\n[link](http://example.com)\n",
			"# Release notes * fixed *the* bug * added `--flag` [link](http://example.com)"},
		{"csv", "text/csv", "city,population\r\nReykjavik,139875\r\n\"Nuuk, Greenland\",19872\r\n",
			`city,population Reykjavik,139875 "Nuuk, Greenland",19872`},
		{"json", "application/json", "{\n  \"service\": \"kestrel\",\n  \"ports\": [80, 443]\n}\n",
			`{ "service": "kestrel", "ports": [80, 443] }`},
		{"xml keeps its markup", "text/xml", "<?xml version=\"1.0\"?>\n<note><to>Tove</to></note>", `<?xml version="1.0"?> <note><to>Tove</to></note>`},
		{"content type is compared exactly", "text/plain", "<p>x</p>", "<p>x</p>"},

		// HTML: text nodes, title and alt attributes; no markup, scripts,
		// styles or comments; entities decoded.
		{"html document", "text/html", `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Harbour timetable</title>
<style>.marmalade { color: red }</style>
<script type="text/javascript">var quokka = "wombat";</script></head>
<body><p class="invisibleclass">Ferries to Caf&eacute; Lindholm &amp; &AElig;r&oslash;</p>
<img src="pier.png" alt="lighthouse at dusk"><!-- secretcomment --></body></html>`,
			"Harbour timetable Ferries to Café Lindholm & Ærø lighthouse at dusk"},
		{"html blocks separate words", "text/html", "<p>one</p><p>two</p><div>three</div><br>four", "one two three four"},
		{"html inline elements do not split words", "text/html", "<p><b>S</b>uperlative fan<i>tas</i>tic <a href=x>link</a>ed</p><p>next</p>", "Superlative fantastic linked next"},
		{"utf-8 byte order mark dropped", "text/plain", "\xef\xbb\xbfhello", "hello"},
		{"html numeric entities", "text/html", "<p>&#72;&#x49; &lt;tag&gt; &quot;q&quot; &nbsp;x&#8212;y</p>", "HI <tag> \"q\" x\u2014y"},
		{"html title and alt attributes decoded", "text/html", `<a href="/x" title="Fish &amp; Chips">menu</a><img alt='caf&eacute;'>`, "Fish & Chips menu café"},
		{"html title element decoded", "text/html", "<title>Terms &amp; Conditions</title>", "Terms & Conditions"},
		{"html other attributes not indexed", "text/html", `<div id="ident" class="klass" data-x="datum" href="hyperref">shown</div>`, "shown"},
		{"html upper-case script and style", "text/html", "<SCRIPT>hidden1()</SCRIPT>a<STYLE>p{hidden2:1}</STYLE>b<Script Src=x>hidden3</sCrIpT>c", "a b c"},
		{"html script with markup-like text", "text/html", `<script>document.write("<p>hidden</p>")</script><p>visible</p>`, "visible"},
		{"html several scripts", "text/html", "<script>h1</script>x<script>h2</script>y<style>h3</style>z", "x y z"},
		{"html self-closing script tag still closed", "text/html", "<script src=a.js /></script>after", "after"},
		{"html noscript text is text", "text/html", "<noscript>enable scripts</noscript>", "enable scripts"},
		{"html comment and doctype", "text/html", "<!doctype html><!-- hidden --><p>seen</p><!-- also hidden", "seen"},
		{"html bare text", "text/html", "just words, no tags", "just words, no tags"},
		{"html bare less-than", "text/html", "<p>a < b and c > d</p>", "a < b and c > d"},
		{"html only markup", "text/html", "<html><head></head><body></body></html>", ""},
		{"html empty", "text/html", "", ""},

		// Malformed HTML: never an error, the text still comes out.
		{"malformed unclosed elements", "text/html", "<p>one<p>two<div><span>three", "one two three"},
		{"malformed stray end tags", "text/html", "</p></script></style>after</div>end", "after end"},
		{"malformed stray end script does not hide later text", "text/html", "</script>one<script>hidden</script>two", "one two"},
		{"malformed unquoted attributes", "text/html", "<img alt=sunset src=x.png><p class=a>body</p>", "sunset body"},
		{"malformed unterminated attribute", "text/html", `<p>before</p><img alt="never closed>after`, "before"},
		{"malformed tag cut at the end", "text/html", "<p>kept</p><a hr", "kept"},
		{"malformed unknown entity", "text/html", "<p>&bogus; &amp &#xZZ;</p>", "&bogus; & &#xZZ;"},
		{"malformed unclosed script hides the rest", "text/html", "<p>seen</p><script>var x = 1; <p>hidden</p>", "seen"},
		{"malformed unclosed style hides the rest", "text/html", "<p>seen</p><style>p { } <p>hidden</p>", "seen"},
		{"malformed nested tags", "text/html", "<b><i>bold italic</b></i> <<>> plain", "bold italic <<>> plain"},

		// Invalid UTF-8 becomes a space, in any type.
		{"invalid utf8 inside a word", "text/plain", "abc\xffdef", "abc def"},
		{"latin1 text", "text/plain", "caf\xe9 cr\xe8me", "caf cr me"},
		{"utf8 character cut at the end", "text/plain", "naïve café\xc3", "naïve café"},
		{"utf8 character cut at the start", "text/plain", "\xa9t\xe9", "t"},
		{"invalid utf8 in csv", "text/csv", "a,\xfe\xff,b", "a, ,b"},
		{"invalid utf8 in html text", "text/html", "<p>caf\xe9 noir</p><p>\xff\xfe</p>", "caf noir"},
		{"invalid utf8 in html attribute", "text/html", "<img alt=\"\xffsun\xfe\">", "sun"},
		{"surrogate half is invalid", "text/plain", "x\xed\xa0\x80y", "x y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := extractText([]byte(tc.in), tc.contentType)
			if got != tc.want {
				t.Errorf("extractText(%q, %q)\n got %q\nwant %q", tc.in, tc.contentType, got, tc.want)
			}
		})
	}
}

// TestExtractTextAlwaysValid: whatever the bytes, the text is valid
// UTF-8 without leading, trailing or repeated white space.
func TestExtractTextAlwaysValid(t *testing.T) {
	inputs := []string{
		"\xff\xfe\xfd", "\x00\x01\x02 text \x00", "<p>\xc3</p>\xc3", "<script>\xff", "<img alt=\"\xc3\">",
		strings.Repeat("é", 10)[:9], "<<<>>>&&&;;;", "\xef\xbb\xbfBOM text", "<p>a</p>\n\n\n<p>b</p>",
	}
	for _, ct := range []string{"text/plain", "text/html", "application/json"} {
		for _, in := range inputs {
			got := extractText([]byte(in), ct)
			if !isCleanText(got) {
				t.Errorf("extractText(%q, %q) = %q: not valid UTF-8 or not single-spaced", in, ct, got)
			}
		}
	}
}

func isCleanText(s string) bool {
	return strings.ToValidUTF8(s, "") == s && strings.Join(strings.Fields(s), " ") == s
}
