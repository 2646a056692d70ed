package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
)

// Algorithms of the strings to sign of aws-chunked chunks and trailers.
const (
	algorithmChunk   = "AWS4-HMAC-SHA256-PAYLOAD"
	algorithmTrailer = "AWS4-HMAC-SHA256-TRAILER"
)

const sigLen = 2 * sha256.Size // hex signature

// chunkSigner checks the signature chain of a signed aws-chunked body: each
// chunk's signature covers the previous one, starting from the seed (the
// request's own signature). It reuses its buffers, so checking a chunk
// allocates nothing unless the signature is wrong.
type chunkSigner struct {
	mac       hash.Hash // HMAC-SHA256 keyed with the signing key
	dateScope string    // "\n" + amzdate + "\n" + scope + "\n"
	prev      [sigLen]byte
	want      [sigLen]byte
	sum       [sha256.Size]byte
	sts       []byte

	accessKey string // for SignatureDoesNotMatch details
	canonical string
}

func newChunkSigner(res *Result) *chunkSigner {
	s := &chunkSigner{
		mac:       hmac.New(sha256.New, res.SigningKey),
		dateScope: "\n" + res.Time.UTC().Format(amzDateLayout) + "\n" + res.Scope.String() + "\n",
		sts:       make([]byte, 0, 256),
		accessKey: res.AccessKey,
		canonical: res.canonicalRequest,
	}
	copy(s.prev[:], res.Signature)
	return s
}

// verifyChunk checks the signature provided for a chunk whose data hashed to
// sum. provided is not retained.
func (s *chunkSigner) verifyChunk(sum, provided []byte) *Error {
	sts := append(s.sts[:0], algorithmChunk...)
	sts = append(sts, s.dateScope...)
	sts = append(sts, s.prev[:]...)
	sts = append(sts, '\n')
	sts = append(sts, emptySHA256Hex...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum)
	return s.check(sts, provided)
}

// verifyTrailer checks the trailer signature over the canonical trailer
// lines.
func (s *chunkSigner) verifyTrailer(canonical, provided []byte) *Error {
	sum := sha256.Sum256(canonical)
	sts := append(s.sts[:0], algorithmTrailer...)
	sts = append(sts, s.dateScope...)
	sts = append(sts, s.prev[:]...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum[:])
	return s.check(sts, provided)
}

func (s *chunkSigner) check(sts, provided []byte) *Error {
	s.sts = sts
	s.mac.Reset()
	s.mac.Write(sts)
	hex.Encode(s.want[:], s.mac.Sum(s.sum[:0]))
	if subtle.ConstantTimeCompare(s.want[:], provided) != 1 {
		text := string(sts)
		return newError(CodeSignatureDoesNotMatch, msgSignature,
			Field{"AWSAccessKeyId", s.accessKey},
			Field{"StringToSign", text},
			Field{"SignatureProvided", string(provided)},
			Field{"StringToSignBytes", hexBytes(text)},
			Field{"CanonicalRequest", s.canonical},
			Field{"CanonicalRequestBytes", hexBytes(s.canonical)})
	}
	copy(s.prev[:], provided)
	return nil
}

// emptySHA256Hex is the hex SHA-256 of no bytes, the fixed fifth line of a
// chunk's string to sign.
const emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
