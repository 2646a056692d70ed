package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

func TestSealOpen(t *testing.T) {
	k, err := NewKeyring(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	a, b := k.Seal(secret, "access-key:A"), k.Seal(secret, "access-key:A")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	if bytes.Contains(a, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := k.Open(a, "access-key:A")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Another purpose, any flipped bit, a cut value: none opens.
	if _, err := k.Open(a, "access-key:B"); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened for another purpose: %v", err)
	}
	for i := range a {
		bad := bytes.Clone(a)
		bad[i] ^= 0x01
		if _, err := k.Open(bad, "access-key:A"); !errors.Is(err, ErrOpen) {
			t.Fatalf("a value with byte %d flipped opened: %v", i, err)
		}
	}
	for n := range len(a) {
		if _, err := k.Open(a[:n], "access-key:A"); !errors.Is(err, ErrOpen) {
			t.Fatalf("a value cut to %d bytes opened: %v", n, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, cur := newKey(t), newKey(t)
	before, _ := NewKeyring(old)
	sealedOld := before.Seal([]byte("x"), "p")
	after, err := NewKeyring(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := after.Open(sealedOld, "p"); err != nil || string(got) != "x" {
		t.Fatalf("value under the older key: %q, %v", got, err)
	}
	sealedNew := after.Seal([]byte("y"), "p")
	if _, err := before.Open(sealedNew, "p"); !errors.Is(err, ErrOpen) {
		t.Fatalf("a keyring without the current key opened its value: %v", err)
	}
	if _, err := NewKeyring(cur, cur); err == nil {
		t.Fatal("the same key twice was accepted")
	}
	if _, err := NewKeyring(cur[:16]); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}

func TestParseKey(t *testing.T) {
	k := newKey(t)
	for _, s := range []string{
		hex.EncodeToString(k), " " + hex.EncodeToString(k) + "\n",
		base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k),
	} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "short", hex.EncodeToString(k[:16]), base64.StdEncoding.EncodeToString(append(k, 1))} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second: created=%v err=%v same=%v", created, err, bytes.Equal(k1, k2))
	}
	os.Chmod(path, 0o644)
	if _, err := LoadKeyFile(path); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}

// TestDerive: the same master key derives the same key for a purpose on
// every replica; purposes and master keys give different keys.
func TestDerive(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	a, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewKeyring(k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeyring(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	d := a.Derive("search page tokens")
	if len(d) != KeySize {
		t.Fatalf("derived %d bytes, want %d", len(d), KeySize)
	}
	if !bytes.Equal(d, again.Derive("search page tokens")) {
		t.Error("the same master key derived different keys")
	}
	if bytes.Equal(d, a.Derive("other purpose")) {
		t.Error("two purposes derived the same key")
	}
	if bytes.Equal(d, other.Derive("search page tokens")) {
		t.Error("two master keys derived the same key")
	}
	if bytes.Equal(d, k1) {
		t.Error("the derived key is the master key")
	}
}
