package sts

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/identity/seal"
)

// issue assumes web-reader as ada for duration seconds (0: the default).
func (f *fixture) issue(t testing.TB, duration string) Credentials {
	t.Helper()
	fm := form(roleARN("web-reader"), "ada-laptop", f.adaToken(t))
	if duration != "" {
		fm.Set("DurationSeconds", duration)
	}
	c, e := f.svc.AssumeRoleWithWebIdentity(context.Background(), fm)
	if e != nil {
		t.Fatal(e)
	}
	return c
}

func TestSessionKeyExpiry(t *testing.T) {
	f := newFixture(t, nil)
	c := f.issue(t, "900")
	exp := t0.Add(900 * time.Second)
	if !c.Expiration.Equal(exp) {
		t.Fatalf("Expiration %v", c.Expiration)
	}
	for _, now := range []time.Time{t0, exp.Add(-time.Second), exp.Add(-time.Nanosecond)} {
		if _, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, now); err != nil {
			t.Errorf("at %v: %v", now, err)
		}
	}
	for _, now := range []time.Time{exp, exp.Add(time.Second), exp.Add(24 * time.Hour)} {
		if _, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, now); !errors.Is(err, ErrExpiredToken) {
			t.Errorf("at %v: %v, want ErrExpiredToken", now, err)
		}
	}
}

// No change to a token, however small, is accepted.
func TestSessionKeyTampering(t *testing.T) {
	f := newFixture(t, nil)
	c := f.issue(t, "")
	sealed, ok := decodeToken(c.SessionToken)
	if !ok {
		t.Fatal("the issued token does not decode")
	}
	check := func(what, tok string) {
		t.Helper()
		if _, err := f.svc.SessionKey(c.AccessKeyID, tok, t0); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("%s: %v, want ErrInvalidToken", what, err)
		}
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := slices.Clone(sealed)
			bad[i] ^= bit
			check("sealed byte flipped", encodeToken(bad))
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tok := c.SessionToken
	for i := range len(tok) {
		// The next character, and the one that differs in the lowest of
		// its six bits: in the last character those bits are padding,
		// which a lax decoder ignores.
		v := strings.IndexByte(alphabet, tok[i])
		for _, w := range []int{(v + 1) % 64, v ^ 1} {
			check("character replaced", tok[:i]+alphabet[w:w+1]+tok[i+1:])
		}
	}
	for n := range len(tok) {
		check("cut", tok[:n])
	}
	for _, bad := range []string{
		tok + "A", tok + "=", tok + "==", "A" + tok,
		tok[:10] + "\n" + tok[10:], tok[:10] + "\r\n" + tok[10:], // the decoder alone would skip these
		tok + "\n", " " + tok, tok + " ",
		strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "x", // standard alphabet
		"", "null", "{}",
	} {
		check("altered", bad)
	}
	// The untouched token still works.
	if _, err := f.svc.SessionKey(c.AccessKeyID, tok, t0); err != nil {
		t.Fatal(err)
	}
}

func TestSessionKeyOtherKeyring(t *testing.T) {
	f := newFixture(t, nil)
	c := f.issue(t, "")
	other := newFixture(t, nil) // same roles, its own keyring
	if _, err := other.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token sealed under another keyring: %v", err)
	}

	// After a key rotation, tokens sealed under the older key still open.
	newKey := make([]byte, seal.KeySize)
	newKey[0] = 1
	oldKey := make([]byte, seal.KeySize)
	before, _ := seal.NewKeyring(oldKey)
	after, _ := seal.NewKeyring(newKey, oldKey)
	fb := newFixture(t, func(o *Options) { o.Keyring = before })
	c = fb.issue(t, "")
	opts := fb.opts
	opts.Roles, opts.Keyring = testRoles(), after
	rotated, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.SessionKey(c.AccessKeyID, c.SessionToken, t0); err != nil {
		t.Fatalf("a token sealed under the older key: %v", err)
	}
}

func TestSessionKeyAccessKeyMismatch(t *testing.T) {
	f := newFixture(t, nil)
	a, b := f.issue(t, ""), f.issue(t, "")
	for _, ak := range []string{b.AccessKeyID, "", strings.ToLower(a.AccessKeyID), a.AccessKeyID + "A", a.AccessKeyID[:19], "AKIAIOSFODNN7EXAMPLE"} {
		if _, err := f.svc.SessionKey(ak, a.SessionToken, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token of %s with access key %q: %v", a.AccessKeyID, ak, err)
		}
	}
	// Each token works with its own key.
	for _, c := range []Credentials{a, b} {
		if k, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0); err != nil || k.Secret != c.SecretAccessKey {
			t.Errorf("%s: %v", c.AccessKeyID, err)
		}
	}
}

// A session acts with its role's roles as configured now, and ends when
// its role is removed.
func TestSessionKeyFollowsRoleConfig(t *testing.T) {
	f := newFixture(t, nil)
	c := f.issue(t, "")
	opts := f.opts
	opts.Roles = testRoles()
	opts.Roles[0].Roles = []string{"reader", "auditor"}
	changed, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	k, err := changed.SessionKey(c.AccessKeyID, c.SessionToken, t0)
	if err != nil || !slices.Equal(k.Principal.Roles, []string{"reader", "auditor"}) {
		t.Fatalf("roles %v, %v", k.Principal.Roles, err)
	}
	opts.Roles = testRoles()[1:]
	removed, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := removed.SessionKey(c.AccessKeyID, c.SessionToken, t0); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a session of a removed role: %v", err)
	}
}

// Only a current-version session, sealed for sessions, opens as one.
func TestSessionKeySealedContent(t *testing.T) {
	f := newFixture(t, nil)
	good := session{
		Version: sessionVersion, AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", Secret: strings.Repeat("s", 40),
		IssuedAt: t0.Unix(), Expires: t0.Add(time.Hour).Unix(), Role: "web-reader", SessionName: "x", Principal: "corp:x", Issuer: "corp",
	}
	seal := func(s any, purpose string) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return encodeToken(f.keyring.Seal(b, purpose))
	}
	if k, err := f.svc.SessionKey(good.AccessKeyID, seal(good, sealPurpose), t0); err != nil || k.Principal.ID != "corp:x" {
		t.Fatalf("a well-formed session: %+v %v", k, err)
	}
	v2 := good
	v2.Version = 2
	noKey := good
	noKey.AccessKeyID = ""
	big := good
	big.Claims = map[string]any{"pad": strings.Repeat("p", maxSessionBytes)}
	for what, tok := range map[string]string{
		"another purpose":      seal(good, "access-key:"+good.AccessKeyID),
		"another version":      seal(v2, sealPurpose),
		"not JSON":             encodeToken(f.keyring.Seal([]byte("ASIAAAAAAAAAAAAAAAAA"), sealPurpose)),
		"JSON of another type": seal([]string{"ASIAAAAAAAAAAAAAAAAA"}, sealPurpose),
		"larger than issued":   seal(big, sealPurpose),
	} {
		ak := good.AccessKeyID
		if _, err := f.svc.SessionKey(ak, tok, t0); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if _, err := f.svc.SessionKey("", seal(noKey, sealPurpose), t0); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a session without an access key id: %v", err)
	}
}

func FuzzSessionKey(f *testing.F) {
	fx := newFixture(f, nil)
	a, b := fx.issue(f, ""), fx.issue(f, "900")
	f.Add(a.AccessKeyID, a.SessionToken)
	f.Add(b.AccessKeyID, b.SessionToken)
	f.Add(a.AccessKeyID, b.SessionToken)
	f.Add(a.AccessKeyID, a.SessionToken[:len(a.SessionToken)/2])
	f.Add(a.AccessKeyID, a.SessionToken+"\n")
	f.Add("", "")
	valid := map[string]string{a.AccessKeyID: a.SessionToken, b.AccessKeyID: b.SessionToken}
	f.Fuzz(func(t *testing.T, ak, tok string) {
		k, err := fx.svc.SessionKey(ak, tok, t0)
		want, ok := valid[ak]
		switch {
		case ok && tok == want:
			if err != nil || k.ID != ak {
				t.Fatalf("an issued token failed: %v", err)
			}
		case err == nil:
			t.Fatalf("accepted access key %q with a token that is not its own", ak)
		case !errors.Is(err, ErrInvalidToken):
			t.Fatalf("error %v, want ErrInvalidToken", err)
		}
	})
}
