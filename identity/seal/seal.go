// Package seal encrypts the secrets s3gate keeps (access key secrets in the
// catalogue, session tokens handed to clients) with AES-256-GCM under a
// master key.
//
// A sealed value is
//
//	version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag
//
// The key id names the master key that sealed it, so a keyring can hold the
// current key and older ones: values sealed under an old key still open
// while new ones use the current key. Every value is sealed for a purpose
// (associated data, such as "access-key:AKID"): a sealed value copied to
// another row or used as another kind of token does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the size of a master key: AES-256.
const KeySize = 32

const (
	version  = 1
	idSize   = 4
	header   = 1 + idSize
	overhead = header + 12 + 16 // header, nonce, GCM tag
)

// ErrOpen is returned for a value that does not open: damaged, sealed for
// another purpose, or under a key the keyring does not hold.
var ErrOpen = errors.New("seal: value does not open")

// Keyring seals with its current key and opens with any of its keys.
type Keyring struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
	secret  []byte // the current key, for Derive
}

// NewKeyring returns a keyring that seals with current and also opens
// values sealed with any of older.
func NewKeyring(current []byte, older ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[uint32]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, older...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("seal: a master key is %d bytes, not %d", KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := keyID(key)
		if _, dup := k.aeads[id]; dup {
			return nil, errors.New("seal: the same master key is listed twice (or two keys share an id)")
		}
		k.aeads[id] = aead
		if i == 0 {
			k.current, k.secret = id, append([]byte(nil), key...)
		}
	}
	return k, nil
}

// Derive returns a 32-byte key for purpose, derived from the current
// master key with HKDF-SHA256: replicas sharing the master key derive the
// same key (to sign tokens any of them checks), and no derived key reveals
// the master key or another purpose's key.
func (k *Keyring) Derive(purpose string) []byte {
	key, err := hkdf.Key(sha256.New, k.secret, nil, "s3gate "+purpose, KeySize)
	if err != nil {
		panic("seal: " + err.Error()) // only for lengths HKDF cannot make
	}
	return key
}

func keyID(key []byte) uint32 {
	sum := sha256.Sum256(key)
	return binary.BigEndian.Uint32(sum[:idSize])
}

// Seal encrypts plaintext for purpose under the current key. A fresh random
// nonce per value: with 96-bit nonces, 2^32 values under one key keep the
// collision chance negligible, far more than s3gate seals.
func (k *Keyring) Seal(plaintext []byte, purpose string) []byte {
	aead := k.aeads[k.current]
	out := make([]byte, header+aead.NonceSize(), overhead+len(plaintext))
	out[0] = version
	binary.BigEndian.PutUint32(out[1:header], k.current)
	if _, err := rand.Read(out[header:]); err != nil {
		panic("seal: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return aead.Seal(out, out[header:], plaintext, aad(out[:header], purpose))
}

// Open decrypts a value sealed for purpose.
func (k *Keyring) Open(sealed []byte, purpose string) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != version {
		return nil, ErrOpen
	}
	aead, ok := k.aeads[binary.BigEndian.Uint32(sealed[1:header])]
	if !ok {
		return nil, ErrOpen
	}
	nonce := sealed[header : header+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, sealed[header+aead.NonceSize():], aad(sealed[:header], purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// aad binds the header (version and key id) and the purpose.
func aad(hdr []byte, purpose string) []byte {
	return append(append([]byte{}, hdr...), purpose...)
}

// ParseKey reads a master key written as 64 hex digits or as base64
// (standard or URL alphabet, padded or not) of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("seal: a master key is %d random bytes, written as 64 hex digits or base64", KeySize)
}

// LoadKeyFile reads a master key from a file that only its owner may read.
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// LoadOrCreateKeyFile reads the key in path, or generates one and writes it
// there (mode 0600, hex) when the file does not exist. created reports a new
// key.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, KeySize)
	rand.Read(key)
	// O_EXCL: of two processes racing on a fresh data dir, one writes and
	// the other reads what it wrote.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err = LoadKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, err
	}
	return key, true, nil
}
