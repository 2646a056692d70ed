package identity

import "crypto/rand"

// The alphabets of generated credentials: access key ids are upper-case
// letters and digits, as AWS's; secrets also use lower-case letters.
const (
	KeyIDChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	SecretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// SecretLength is the length of a generated secret key: 40 characters,
// about 238 random bits.
const SecretLength = 40

// NewKeyID returns prefix followed by random KeyIDChars up to length
// characters in all.
func NewKeyID(prefix string, length int) string {
	return prefix + RandomString(length-len(prefix), KeyIDChars)
}

// NewSecret returns a random secret key.
func NewSecret() string { return RandomString(SecretLength, SecretChars) }

// RandomString draws n characters uniformly from alphabet (at most 256
// characters) with crypto/rand; rejection sampling keeps the draw uniform.
func RandomString(n int, alphabet string) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	buf := make([]byte, 2*n+16)
	for len(out) < n {
		rand.Read(buf) // never fails: it crashes the program first
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}
