package sigv4

// EncodePath applies S3's URI encoding to a path: every byte except
// A-Z a-z 0-9 - . _ ~ and '/' becomes %XX with upper-case hex. It does not
// normalise the path and does not encode twice, which is what S3 expects of
// the canonical URI (unlike other AWS services).
func EncodePath(p string) string { return uriEncode(p, false) }

// EncodeQuery is EncodePath that also encodes '/', for query parameter
// names and values.
func EncodeQuery(s string) string { return uriEncode(s, true) }

const upperHex = "0123456789ABCDEF"

func uriEncode(s string, slash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keepByte(s[i], slash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keepByte(c, slash) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(b)
}

func keepByte(c byte, slash bool) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '-', c == '.', c == '_', c == '~':
		return true
	case c == '/':
		return !slash
	}
	return false
}
