package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateRoot(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreateRoot(dir)
	if err != nil || !created {
		t.Fatalf("first start: %v created=%v", err, created)
	}
	if len(k1.ID) != 20 || len(k1.Secret) != 40 || strings.ToUpper(k1.ID) != k1.ID {
		t.Fatalf("generated key %q / %d-char secret", k1.ID, len(k1.Secret))
	}
	fi, err := os.Stat(filepath.Join(dir, RootCredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode: %v %v", fi.Mode(), err)
	}
	k2, created, err := LoadOrCreateRoot(dir)
	if err != nil || created || k2.ID != k1.ID || k2.Secret != k1.Secret {
		t.Fatalf("second start: %v created=%v key %q", err, created, k2.ID)
	}
	if k2.Principal.ID != "root" || k2.Principal.Roles[0] != RoleAdmin {
		t.Fatalf("principal %+v", k2.Principal)
	}
	// Another data dir gets another key.
	k3, _, _ := LoadOrCreateRoot(t.TempDir())
	if k3.ID == k1.ID || k3.Secret == k1.Secret {
		t.Fatal("two data dirs got the same key")
	}
	os.WriteFile(filepath.Join(dir, RootCredentialsFile), []byte("{"), 0o600)
	if _, _, err := LoadOrCreateRoot(dir); err == nil {
		t.Fatal("damaged file accepted")
	}
}

func TestKeysLookup(t *testing.T) {
	ks := NewKeys(AccessKey{ID: "a", Secret: "s", Principal: Principal{ID: "p"}})
	if k, err := ks.Lookup(context.Background(), "a"); err != nil || k.Principal.ID != "p" {
		t.Fatalf("lookup: %v %+v", err, k)
	}
	if _, err := ks.Lookup(context.Background(), "b"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestRandomStringAlphabet(t *testing.T) {
	s := RandomString(1000, "ab")
	if len(s) != 1000 || strings.Trim(s, "ab") != "" {
		t.Fatal("RandomString left its alphabet")
	}
	if a := strings.Count(s, "a"); a < 400 || a > 600 {
		t.Fatalf("RandomString is biased: %d of 1000", a)
	}
}

func TestAccessKeyNeverPrintsSecret(t *testing.T) {
	k := AccessKey{ID: "AKPRINT", Secret: "very-secret-value", Principal: Principal{ID: "alice"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), logged.String()} {
		if strings.Contains(s, k.Secret) {
			t.Errorf("secret printed: %s", s)
		}
		if !strings.Contains(s, "AKPRINT") {
			t.Errorf("key id missing: %s", s)
		}
	}
}
