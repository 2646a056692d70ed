package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/seal"
)

var testRoot = identity.AccessKey{ID: "ROOTACCESSKEYID", Secret: "root-secret-root-secret", Principal: identity.RootPrincipal()}

// eventually calls f every 10 ms until it returns nil and reports how long
// that took; it fails the test if f still fails after within.
func eventually(t *testing.T, within time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("still not so after %v: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lookupIs(ctx context.Context, s *Store, k identity.AccessKey) error {
	got, err := s.Lookup(ctx, k.ID)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(got, k) {
		return fmt.Errorf("Lookup(%s) returned another key or principal: %s %+v", k.ID, got.ID, got.Principal)
	}
	return nil
}

func TestStoreLifecycle(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		cat := openCatalogT(t, db.Fresh(t))
		// An hour: every change below must take effect here at once, not by
		// expiry.
		s := newStoreT(t, cat, keyringT(t, newMasterKey(t)), Options{Static: []identity.AccessKey{testRoot}, RefreshInterval: time.Hour})
		ctx := testCtx(t)

		alice, err := s.Create(ctx, CreateRequest{
			PrincipalID: "user:alice", DisplayName: "Alice",
			Roles: []string{"writer", "auditor"}, Groups: []string{"eng", "org/ops"}, Description: "laptop",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !validID(alice.ID) || len(alice.Secret) != identity.SecretLength || strings.Trim(alice.Secret, identity.SecretChars) != "" {
			t.Fatalf("created id %q with a %d-char secret", alice.ID, len(alice.Secret))
		}
		wantPrincipal := identity.Principal{ID: "user:alice", DisplayName: "Alice", Roles: []string{"writer", "auditor"}, Groups: []string{"eng", "org/ops"}}
		if !reflect.DeepEqual(alice.Principal, wantPrincipal) {
			t.Fatalf("principal %+v, want %+v", alice.Principal, wantPrincipal)
		}
		if err := lookupIs(ctx, s, alice); err != nil {
			t.Fatal(err)
		}
		alice2, err := s.Create(ctx, CreateRequest{PrincipalID: "user:alice"})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.Create(ctx, CreateRequest{PrincipalID: "user:bob"})
		if err != nil {
			t.Fatal(err)
		}
		if alice2.ID == alice.ID || alice2.Secret == alice.Secret || bob.ID == alice.ID {
			t.Fatal("two created keys share an id or a secret")
		}
		if alice2.Principal.DisplayName != "user:alice" {
			t.Errorf("display name defaults to %q, want the principal id", alice2.Principal.DisplayName)
		}

		idsOf := func(ks []Key) []string {
			var ids []string
			for _, k := range ks {
				ids = append(ids, k.ID)
			}
			return ids
		}
		sorted := func(ids ...string) []string {
			slices.Sort(ids)
			return ids
		}
		all, err := s.List(ctx, "")
		if err != nil || !reflect.DeepEqual(idsOf(all), sorted(alice.ID, alice2.ID, bob.ID)) {
			t.Fatalf("List all = %q, %v", idsOf(all), err)
		}
		mine, err := s.List(ctx, "user:alice")
		if err != nil || !reflect.DeepEqual(idsOf(mine), sorted(alice.ID, alice2.ID)) {
			t.Fatalf("List alice = %q, %v", idsOf(mine), err)
		}
		got, err := s.Get(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != alice.ID || !reflect.DeepEqual(got.Principal, wantPrincipal) || got.Description != "laptop" ||
			got.Status != Active || got.Created.IsZero() || !got.Updated.Equal(got.Created) {
			t.Fatalf("Get = %+v", got)
		}
		for _, k := range mine {
			if k.ID == alice.ID && !reflect.DeepEqual(k, got) {
				t.Errorf("List entry %+v differs from Get %+v", k, got)
			}
		}

		// Disable takes effect at once here, for this key only.
		if err := s.Disable(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.Lookup(ctx, alice.ID)
		if !errors.Is(err, identity.ErrUnknownKey) || !errors.Is(err, ErrKeyDisabled) {
			t.Fatalf("Lookup of a disabled key: %v", err)
		}
		if k, err := s.Get(ctx, alice.ID); err != nil || k.Status != Disabled {
			t.Fatalf("Get after Disable = %+v, %v", k, err)
		}
		if err := lookupIs(ctx, s, alice2); err != nil {
			t.Fatalf("another key of the principal: %v", err)
		}
		if err := s.Enable(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := lookupIs(ctx, s, alice); err != nil {
			t.Fatalf("after Enable: %v", err)
		}

		// Delete takes effect at once too.
		if err := s.Delete(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup(ctx, alice.ID); !errors.Is(err, identity.ErrUnknownKey) || errors.Is(err, ErrKeyDisabled) {
			t.Fatalf("Lookup of a deleted key: %v", err)
		}
		for name, call := range map[string]func() error{
			"Get":     func() error { _, err := s.Get(ctx, alice.ID); return err },
			"Delete":  func() error { return s.Delete(ctx, alice.ID) },
			"Disable": func() error { return s.Disable(ctx, alice.ID) },
			"Enable":  func() error { return s.Enable(ctx, alice.ID) },
		} {
			if err := call(); !errors.Is(err, ErrNoSuchKey) {
				t.Errorf("%s of a deleted key: %v, want ErrNoSuchKey", name, err)
			}
		}
		if all, err := s.List(ctx, ""); err != nil || !reflect.DeepEqual(idsOf(all), sorted(alice2.ID, bob.ID)) {
			t.Fatalf("List after Delete = %q, %v", idsOf(all), err)
		}

		// The root key answers from memory and cannot be changed here.
		if err := lookupIs(ctx, s, testRoot); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"Get":     func() error { _, err := s.Get(ctx, testRoot.ID); return err },
			"Delete":  func() error { return s.Delete(ctx, testRoot.ID) },
			"Disable": func() error { return s.Disable(ctx, testRoot.ID) },
			"Enable":  func() error { return s.Enable(ctx, testRoot.ID) },
		} {
			if err := call(); !errors.Is(err, ErrStaticKey) {
				t.Errorf("%s of the root key: %v, want ErrStaticKey", name, err)
			}
		}
		if err := lookupIs(ctx, s, testRoot); err != nil {
			t.Fatalf("root key after refused changes: %v", err)
		}
		for _, k := range all {
			if k.ID == testRoot.ID {
				t.Error("List shows the root key")
			}
		}

		for _, id := range []string{"", "nope", strings.ToLower(bob.ID), bob.ID + "X", "AK" + strings.Repeat("a", 18)} {
			if _, err := s.Lookup(ctx, id); !errors.Is(err, identity.ErrUnknownKey) {
				t.Errorf("Lookup(%q): %v", id, err)
			}
		}
	})
}

func TestCreateValidation(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	s := newStoreT(t, cat, keyringT(t, newMasterKey(t)), Options{})
	ctx := testCtx(t)
	long := strings.Repeat("r", 65)
	bad := map[string]CreateRequest{
		"no principal":           {},
		"root principal":         {PrincipalID: "root"},
		"control char principal": {PrincipalID: "user\x00alice"},
		"newline in name":        {PrincipalID: "u", DisplayName: "a\nb"},
		"padded principal":       {PrincipalID: " u"},
		"invalid UTF-8":          {PrincipalID: "u\xff"},
		"long principal":         {PrincipalID: strings.Repeat("p", maxNameBytes+1)},
		"long description":       {PrincipalID: "u", Description: strings.Repeat("d", maxDescriptionBytes+1)},
		"empty role":             {PrincipalID: "u", Roles: []string{""}},
		"role with space":        {PrincipalID: "u", Roles: []string{"read write"}},
		"role with slash":        {PrincipalID: "u", Roles: []string{"a/b"}},
		"role with quote":        {PrincipalID: "u", Roles: []string{`a"b`}},
		"long role":              {PrincipalID: "u", Roles: []string{long}},
		"duplicate role":         {PrincipalID: "u", Roles: []string{"a", "b", "a"}},
		"too many roles":         {PrincipalID: "u", Roles: numbered("r", maxRoles+1)},
		"group with space":       {PrincipalID: "u", Groups: []string{"a b"}},
		"duplicate group":        {PrincipalID: "u", Groups: []string{"g", "g"}},
		"too many groups":        {PrincipalID: "u", Groups: numbered("g", maxGroups+1)},
	}
	for name, req := range bad {
		_, err := s.Create(ctx, req)
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	if ks, err := s.List(ctx, ""); err != nil || len(ks) != 0 {
		t.Fatalf("refused requests stored keys: %+v, %v", ks, err)
	}
	good := CreateRequest{
		PrincipalID: "oidc|user@example.com", DisplayName: "Ünïcode Name",
		Roles: numbered("role.x:", maxRoles), Groups: []string{"org/team-a", "x@y", "A_B"},
		Description: strings.Repeat("d", maxDescriptionBytes),
	}
	k, err := s.Create(ctx, good)
	if err != nil {
		t.Fatalf("a good request was refused: %v", err)
	}
	// The Store keeps its own copy of the lists.
	good.Roles[0] = "changed"
	if got, err := s.Lookup(ctx, k.ID); err != nil || got.Principal.Roles[0] != "role.x:0" || k.Principal.Roles[0] != "role.x:0" {
		t.Fatalf("Lookup after the caller changed its request: %+v %v", got.Principal, err)
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

// Keys survive a restart: the catalogue closed and opened again, with the
// same master key.
func TestKeysSurviveRestart(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn, master := db.Fresh(t), newMasterKey(t)
		ctx := testCtx(t)
		cat := openCatalogT(t, dsn)
		s := newStoreT(t, cat, keyringT(t, master), Options{})
		active, err := s.Create(ctx, CreateRequest{PrincipalID: "svc:backup", Roles: []string{"reader"}})
		if err != nil {
			t.Fatal(err)
		}
		disabled, err := s.Create(ctx, CreateRequest{PrincipalID: "svc:backup"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Disable(ctx, disabled.ID); err != nil {
			t.Fatal(err)
		}
		if err := cat.Close(); err != nil {
			t.Fatal(err)
		}

		s = newStoreT(t, openCatalogT(t, dsn), keyringT(t, master), Options{})
		if err := lookupIs(ctx, s, active); err != nil {
			t.Fatalf("after restart: %v", err)
		}
		if _, err := s.Lookup(ctx, disabled.ID); !errors.Is(err, ErrKeyDisabled) {
			t.Fatalf("disabled key after restart: %v", err)
		}
		if ks, err := s.List(ctx, "svc:backup"); err != nil || len(ks) != 2 {
			t.Fatalf("List after restart = %+v, %v", ks, err)
		}
	})
}

// A catalogue opened with another master key refuses its keys with an error
// that names the cause, not as unknown keys; a keyring that also holds the
// old key (a rotation) opens them.
func TestWrongMasterKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn, oldKey, newKey := db.Fresh(t), newMasterKey(t), newMasterKey(t)
		ctx := testCtx(t)
		cat := openCatalogT(t, dsn)
		k, err := newStoreT(t, cat, keyringT(t, oldKey), Options{}).Create(ctx, CreateRequest{PrincipalID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		cat.Close()

		cat = openCatalogT(t, dsn)
		wrong := newStoreT(t, cat, keyringT(t, newKey), Options{})
		_, err = wrong.Lookup(ctx, k.ID)
		switch {
		case err == nil:
			t.Fatal("a key opened under the wrong master key")
		case errors.Is(err, identity.ErrUnknownKey):
			t.Fatalf("wrong master key reported as an unknown key: %v", err)
		case !errors.Is(err, ErrSecretUnreadable) || !errors.Is(err, seal.ErrOpen):
			t.Fatalf("err = %v, want ErrSecretUnreadable wrapping seal.ErrOpen", err)
		case !strings.Contains(err.Error(), "master key") || !strings.Contains(err.Error(), k.ID):
			t.Fatalf("error does not name the master key and the key: %v", err)
		case strings.Contains(err.Error(), k.Secret):
			t.Fatal("error contains the secret")
		}
		// Answered again (from the cache or not), the answer is the same.
		if _, err2 := wrong.Lookup(ctx, k.ID); !errors.Is(err2, ErrSecretUnreadable) {
			t.Fatalf("second lookup: %v", err2)
		}

		rotated := newStoreT(t, cat, keyringT(t, newKey, oldKey), Options{})
		if err := lookupIs(ctx, rotated, k); err != nil {
			t.Fatalf("keyring with the old key as an older key: %v", err)
		}
		// Keys made after the rotation are sealed under the new key only.
		k2, err := rotated.Create(ctx, CreateRequest{PrincipalID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		old := newStoreT(t, cat, keyringT(t, oldKey), Options{})
		if _, err := old.Lookup(ctx, k2.ID); !errors.Is(err, ErrSecretUnreadable) {
			t.Fatalf("a key sealed under the new master key, opened with the old: %v", err)
		}
	})
}

// A sealed secret is bound to its key's id: moved onto another key's row,
// it does not open.
func TestSealedSecretBoundToID(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	kr := keyringT(t, newMasterKey(t))
	s := newStoreT(t, cat, kr, Options{})
	ctx := testCtx(t)
	a, err := s.Create(ctx, CreateRequest{PrincipalID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, CreateRequest{PrincipalID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	ra, err := cat.GetAccessKey(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := cat.GetAccessKey(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.DeleteAccessKey(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	rb.SealedSecret = ra.SealedSecret
	if err := cat.CreateAccessKey(ctx, rb); err != nil {
		t.Fatal(err)
	}
	fresh := newStoreT(t, cat, kr, Options{})
	if _, err := fresh.Lookup(ctx, b.ID); !errors.Is(err, ErrSecretUnreadable) {
		t.Fatalf("a secret moved to another id: %v", err)
	}
	if err := lookupIs(ctx, fresh, a); err != nil {
		t.Fatal(err)
	}
}

// Read the stored row, and on SQLite the database files, without the
// catalogue: the secret must not be there in any common encoding, and the
// sealed column must open to it.
func TestCatalogueHoldsNoPlaintext(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		kr := keyringT(t, newMasterKey(t))
		s := newStoreT(t, openCatalogT(t, dsn), kr, Options{})
		ctx := testCtx(t)
		k, err := s.Create(ctx, CreateRequest{PrincipalID: "u", Description: "d"})
		if err != nil {
			t.Fatal(err)
		}
		forms := [][]byte{
			[]byte(k.Secret),
			[]byte(hex.EncodeToString([]byte(k.Secret))),
			[]byte(strings.ToUpper(hex.EncodeToString([]byte(k.Secret)))),
			[]byte(base64.StdEncoding.EncodeToString([]byte(k.Secret))),
			[]byte(base64.RawURLEncoding.EncodeToString([]byte(k.Secret))),
		}
		check := func(where string, b []byte) {
			t.Helper()
			for _, f := range forms {
				if bytes.Contains(b, f) {
					t.Errorf("%s holds the secret (as %q)", where, f[:8])
				}
			}
		}

		raw := rawDB(t, dsn)
		rows, err := raw.QueryContext(ctx, "SELECT * FROM access_keys")
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := map[string]any{}
			for i, c := range cols {
				row[c] = vals[i]
				b, ok := vals[i].([]byte)
				if !ok {
					b = fmt.Append(nil, vals[i])
				}
				check("column "+c, b)
			}
			if row["id"] != k.ID {
				continue
			}
			found = true
			sealed, ok := row["sealed_secret"].([]byte)
			if !ok || len(sealed) == 0 {
				t.Fatalf("sealed_secret is %T", row["sealed_secret"])
			}
			plain, err := kr.Open(sealed, purpose(k.ID))
			if err != nil || string(plain) != k.Secret {
				t.Fatalf("the stored sealed secret does not open to the secret: %v", err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if !found {
			t.Fatalf("no row for %s", k.ID)
		}

		if path, ok := sqliteFile(dsn); ok {
			for _, f := range []string{path, path + "-wal"} {
				b, err := os.ReadFile(f)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				check(f, b)
			}
		} else {
			var text string
			if err := raw.QueryRowContext(ctx, "SELECT string_agg(t::text, ',') FROM access_keys t").Scan(&text); err != nil {
				t.Fatal(err)
			}
			check("row text", []byte(text))
		}
	})
}

// Two Stores on one database are two replicas: what one changes, the other
// sees within the refresh interval (or the negative TTL, for new keys).
func TestReplicasSeeChangesWithinInterval(t *testing.T) {
	const (
		interval = 200 * time.Millisecond
		negTTL   = 100 * time.Millisecond
		// Slack for polling and a slow machine; the exact bounds are
		// TestCacheExpiry's.
		slack = time.Second
	)
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		kr := keyringT(t, newMasterKey(t))
		opts := Options{RefreshInterval: interval, NegativeTTL: negTTL}
		catA := openCatalogT(t, dsn)
		a := newStoreT(t, catA, kr, opts)
		b := newStoreT(t, openCatalogT(t, dsn), kr, opts)
		ctx := testCtx(t)

		k, err := a.Create(ctx, CreateRequest{PrincipalID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		if err := lookupIs(ctx, b, k); err != nil {
			t.Fatalf("replica b: %v", err)
		}

		if err := a.Disable(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Lookup(ctx, k.ID); !errors.Is(err, ErrKeyDisabled) {
			t.Fatalf("replica a right after its own Disable: %v", err)
		}
		took := eventually(t, interval+slack, func() error {
			if _, err := b.Lookup(ctx, k.ID); !errors.Is(err, ErrKeyDisabled) {
				return fmt.Errorf("replica b still answers %v for a key disabled on a", err)
			}
			return nil
		})
		t.Logf("disable reached replica b after %v (interval %v)", took, interval)

		if err := a.Enable(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, negTTL+slack, func() error { return lookupIs(ctx, b, k) })

		if err := a.Delete(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		took = eventually(t, interval+slack, func() error {
			if _, err := b.Lookup(ctx, k.ID); !errors.Is(err, identity.ErrUnknownKey) || errors.Is(err, ErrKeyDisabled) {
				return fmt.Errorf("replica b still answers %v for a key deleted on a", err)
			}
			return nil
		})
		t.Logf("delete reached replica b after %v (interval %v)", took, interval)

		// An id b has been asked for and found unknown becomes usable there
		// once it exists.
		id, secret := newID(), newSecret()
		if _, err := b.Lookup(ctx, id); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatalf("not yet created: %v", err)
		}
		if err := catA.CreateAccessKey(ctx, catalog.AccessKey{ID: id, PrincipalID: "v", DisplayName: "v", SealedSecret: kr.Seal([]byte(secret), purpose(id))}); err != nil {
			t.Fatal(err)
		}
		eventually(t, negTTL+slack, func() error {
			return lookupIs(ctx, b, identity.AccessKey{ID: id, Secret: secret, Principal: identity.Principal{ID: "v", DisplayName: "v"}})
		})
	})
}

// The exact bounds, on a clock the test moves: a cached key is used up to,
// and not at, RefreshInterval after its read; a negative answer up to
// NegativeTTL.
func TestCacheExpiry(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	spy := &spyCatalog{Catalog: cat}
	s := newStoreT(t, spy, keyringT(t, newMasterKey(t)), Options{RefreshInterval: 10 * time.Second, NegativeTTL: 2 * time.Second})
	clock := withClock(s)
	ctx := testCtx(t)
	k, err := s.Create(ctx, CreateRequest{PrincipalID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, advance time.Duration, wantErr error, wantReads int) {
		t.Helper()
		clock.advance(advance)
		err := lookupIs(ctx, s, k)
		if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
			t.Fatalf("%s: Lookup err = %v, want %v", name, err, wantErr)
		}
		if got := spy.reads(); got != wantReads {
			t.Fatalf("%s: %d catalogue reads, want %d", name, got, wantReads)
		}
	}
	step("first lookup reads", 0, nil, 1)
	step("second is cached", 0, nil, 1)
	// Another replica disables the key: straight in the catalogue.
	if err := cat.SetAccessKeyStatus(ctx, k.ID, catalog.AccessKeyDisabled); err != nil {
		t.Fatal(err)
	}
	step("cached until the interval ends", 10*time.Second-time.Microsecond, nil, 1)
	step("read again when it ends", time.Microsecond, ErrKeyDisabled, 2)
	if err := cat.SetAccessKeyStatus(ctx, k.ID, catalog.AccessKeyActive); err != nil {
		t.Fatal(err)
	}
	step("disabled is cached", 2*time.Second-time.Microsecond, ErrKeyDisabled, 2)
	step("for the negative TTL", time.Microsecond, nil, 3)

	// Unknown ids: one read per NegativeTTL however often they are tried.
	unknown := newID()
	for range 100 {
		if _, err := s.Lookup(ctx, unknown); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	if got := spy.reads(); got != 4 {
		t.Fatalf("100 lookups of one unknown id made %d reads, want 1", got-3)
	}
	// Ids Create cannot have made are not read at all.
	for i := range 1000 {
		malformed := []string{
			fmt.Sprintf("AKIA%015d", i),        // too short
			fmt.Sprintf("ak%018d", i),          // lower case
			fmt.Sprintf("ASIA%016d", i),        // another prefix
			fmt.Sprintf("AK%017d-", i),         // another character
			fmt.Sprintf("AK%018d%0200d", i, 0), // too long
		}[i%5]
		if _, err := s.Lookup(ctx, malformed); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	if got := spy.reads(); got != 4 {
		t.Fatalf("malformed ids made %d reads", got-4)
	}
	clock.advance(2 * time.Second)
	if _, err := s.Lookup(ctx, unknown); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatal(err)
	}
	if got := spy.reads(); got != 5 {
		t.Fatalf("after the negative TTL: %d reads, want 5", got)
	}
}

// A flood of unknown ids fills only the negative cache, and only up to its
// size; keys in use stay cached.
func TestCacheBounded(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	spy := &spyCatalog{Catalog: cat}
	s := newStoreT(t, spy, keyringT(t, newMasterKey(t)), Options{RefreshInterval: time.Hour, NegativeTTL: time.Hour, CacheSize: 10})
	ctx := testCtx(t)
	k, err := s.Create(ctx, CreateRequest{PrincipalID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lookupIs(ctx, s, k); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := s.Lookup(ctx, newID()); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	s.cache.mu.Lock()
	npos, nneg := len(s.cache.pos), len(s.cache.neg)
	s.cache.mu.Unlock()
	if npos != 1 || nneg > 10 || nneg == 0 {
		t.Fatalf("cache holds %d keys and %d negative answers, want 1 and at most 10", npos, nneg)
	}
	before := spy.reads()
	if err := lookupIs(ctx, s, k); err != nil {
		t.Fatal(err)
	}
	if spy.reads() != before {
		t.Fatal("the flood evicted a key in use")
	}
}

// Concurrent lookups of one id share one catalogue read.
func TestConcurrentLookupsShareOneRead(t *testing.T) {
	const callers = 32
	eachDB(t, func(t *testing.T, db testDB) {
		cat := openCatalogT(t, db.Fresh(t))
		spy := &spyCatalog{Catalog: cat}
		s := newStoreT(t, spy, keyringT(t, newMasterKey(t)), Options{RefreshInterval: time.Hour})
		ctx := testCtx(t)
		k, err := s.Create(ctx, CreateRequest{PrincipalID: "u", Roles: []string{"r"}})
		if err != nil {
			t.Fatal(err)
		}
		hold := make(chan struct{})
		spy.setHold(hold)
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() { errs[i] = lookupIs(ctx, s, k) })
		}
		spy.waitHeld(t)
		// Give the other callers time to queue behind the held read. Those
		// that come later find the cached answer; either way there is one
		// read.
		time.Sleep(50 * time.Millisecond)
		close(hold)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}
		if n := spy.reads(); n != 1 {
			t.Fatalf("%d concurrent lookups made %d catalogue reads, want 1", callers, n)
		}
	})
}

// A caller that gives up does not cancel the read others wait on.
func TestCallerCancelLeavesSharedRead(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	spy := &spyCatalog{Catalog: cat}
	s := newStoreT(t, spy, keyringT(t, newMasterKey(t)), Options{RefreshInterval: time.Hour})
	ctx := testCtx(t)
	k, err := s.Create(ctx, CreateRequest{PrincipalID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	spy.setHold(hold)
	impatient, cancel := context.WithCancel(ctx)
	first := make(chan error, 1)
	go func() { _, err := s.Lookup(impatient, k.ID); first <- err }()
	spy.waitHeld(t)
	second := make(chan error, 1)
	go func() { second <- lookupIs(ctx, s, k) }()
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled caller kept waiting for the shared read")
	}
	close(hold)
	if err := <-second; err != nil {
		t.Fatalf("the caller still waiting: %v", err)
	}
	if n := spy.reads(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
	// A caller already gone starts no read.
	spy.setHold(nil)
	if _, err := s.Lookup(impatient, newID()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with an ended context: %v", err)
	}
	if n := spy.reads(); n != 1 {
		t.Fatalf("a lookup with an ended context read the catalogue")
	}
}

// A change made here while a read of the old row is in flight wins: the
// old answer is not cached, and lookups after the change do not join the
// old read.
func TestLocalChangeBeatsReadInFlight(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	spy := &spyCatalog{Catalog: cat}
	s := newStoreT(t, spy, keyringT(t, newMasterKey(t)), Options{RefreshInterval: time.Hour, NegativeTTL: time.Hour})
	ctx := testCtx(t)
	k, err := s.Create(ctx, CreateRequest{PrincipalID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	spy.setHold(hold)
	stale := make(chan error, 1)
	go func() { stale <- lookupIs(ctx, s, k) }()
	spy.waitHeld(t)
	// The held read has the active row. Now disable the key here.
	if err := s.Disable(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	spy.setHold(nil)
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.Lookup(short, k.ID); !errors.Is(err, ErrKeyDisabled) {
		t.Fatalf("lookup after Disable, old read still in flight: %v", err)
	}
	close(hold)
	if err := <-stale; err != nil {
		t.Fatalf("the lookup that began before Disable: %v", err)
	}
	if _, err := s.Lookup(ctx, k.ID); !errors.Is(err, ErrKeyDisabled) {
		t.Fatalf("the old read's answer was cached: %v", err)
	}
}

// A failed catalogue read is reported as such, never as an unknown key, and
// is not remembered.
func TestCatalogueFailureNotCached(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	spy := &spyCatalog{Catalog: cat}
	s := newStoreT(t, spy, keyringT(t, newMasterKey(t)), Options{RefreshInterval: time.Hour, NegativeTTL: time.Hour})
	ctx := testCtx(t)
	k, err := s.Create(ctx, CreateRequest{PrincipalID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("connection refused")
	spy.failNext(down)
	_, err = s.Lookup(ctx, k.ID)
	if !errors.Is(err, down) || errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("Lookup with the catalogue down: %v", err)
	}
	if err := lookupIs(ctx, s, k); err != nil {
		t.Fatalf("after the catalogue came back: %v", err)
	}
}

// Lookups, from two replicas, race changes to the keys; run with -race.
func TestConcurrentUse(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		kr := keyringT(t, newMasterKey(t))
		opts := Options{Static: []identity.AccessKey{testRoot}, RefreshInterval: 50 * time.Millisecond, NegativeTTL: 20 * time.Millisecond}
		a := newStoreT(t, openCatalogT(t, dsn), kr, opts)
		b := newStoreT(t, openCatalogT(t, dsn), kr, opts)
		ctx := testCtx(t)
		keys := []identity.AccessKey{testRoot}
		for i := range 4 {
			k, err := a.Create(ctx, CreateRequest{PrincipalID: fmt.Sprint("u", i), Roles: []string{"r"}})
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		stopLookups := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopLookups() // also when a t.Fatal below ends the test early
		for g := range 8 {
			s := []*Store{a, b}[g%2]
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := keys[(g+i)%len(keys)]
					got, err := s.Lookup(ctx, k.ID)
					switch {
					case err == nil && !reflect.DeepEqual(got, k):
						t.Errorf("Lookup(%s) returned another key", k.ID)
						return
					case err == nil:
						got.Principal.Roles = append(got.Principal.Roles[:0], "mutated") // must not reach the cache
					case !errors.Is(err, identity.ErrUnknownKey):
						t.Errorf("Lookup(%s): %v", k.ID, err)
						return
					}
				}
			})
		}
		for i := range 20 {
			id := keys[1+i%2].ID
			if err := a.Disable(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := b.Enable(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Delete(ctx, keys[3].ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // let the lookups run against the final state
		stopLookups()
		for _, s := range []*Store{a, b} {
			eventually(t, time.Second, func() error {
				if _, err := s.Lookup(ctx, keys[3].ID); !errors.Is(err, identity.ErrUnknownKey) {
					return fmt.Errorf("deleted key: %v", err)
				}
				return nil
			})
			for _, k := range []identity.AccessKey{keys[0], keys[1], keys[2], keys[4]} {
				eventually(t, time.Second, func() error { return lookupIs(ctx, s, k) })
			}
		}
	})
}

// Nothing the Store returns but Create's and Lookup's keys holds a secret.
func TestSecretsStayOut(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	s := newStoreT(t, cat, keyringT(t, newMasterKey(t)), Options{Static: []identity.AccessKey{testRoot}})
	ctx := testCtx(t)
	k, err := s.Create(ctx, CreateRequest{PrincipalID: "u", Roles: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ks, err := s.List(ctx, "")
	out = append(out, fmt.Sprintf("%+v %#v", ks, ks), fmt.Sprint(err))
	got, err := s.Get(ctx, k.ID)
	out = append(out, fmt.Sprintf("%+v %#v", got, got), fmt.Sprint(err))
	out = append(out, fmt.Sprint(s.Disable(ctx, testRoot.ID)), fmt.Sprint(s.Delete(ctx, testRoot.ID)))
	_, err = newStoreT(t, cat, keyringT(t, newMasterKey(t)), Options{}).Lookup(ctx, k.ID)
	out = append(out, fmt.Sprint(err))
	if err := s.Disable(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Lookup(ctx, k.ID)
	out = append(out, fmt.Sprint(err))
	for _, o := range out {
		if strings.Contains(o, k.Secret) || strings.Contains(o, testRoot.Secret) {
			t.Errorf("a secret shows in %q", o)
		}
	}
}

func TestNewOptions(t *testing.T) {
	cat := openCatalogT(t, freshSQLite(t))
	kr := keyringT(t, newMasterKey(t))
	s, err := New(cat, kr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.interval != DefaultRefreshInterval || s.negTTL != DefaultNegativeTTL || s.cache.max != DefaultCacheSize {
		t.Errorf("defaults: interval %v, negative TTL %v, cache %d", s.interval, s.negTTL, s.cache.max)
	}
	if s, err := New(cat, kr, Options{RefreshInterval: time.Second}); err != nil || s.negTTL != time.Second {
		t.Errorf("negative TTL under a 1 s interval: %v, %v", s.negTTL, err)
	}
	bad := map[string]func() (*Store, error){
		"no catalogue":        func() (*Store, error) { return New(nil, kr, Options{}) },
		"no keyring":          func() (*Store, error) { return New(cat, nil, Options{}) },
		"negative interval":   func() (*Store, error) { return New(cat, kr, Options{RefreshInterval: -1}) },
		"negative TTL":        func() (*Store, error) { return New(cat, kr, Options{NegativeTTL: -1}) },
		"negative cache size": func() (*Store, error) { return New(cat, kr, Options{CacheSize: -1}) },
		"TTL over interval": func() (*Store, error) {
			return New(cat, kr, Options{RefreshInterval: time.Second, NegativeTTL: 2 * time.Second})
		},
		"static without secret": func() (*Store, error) {
			return New(cat, kr, Options{Static: []identity.AccessKey{{ID: "x"}}})
		},
		"static twice": func() (*Store, error) {
			return New(cat, kr, Options{Static: []identity.AccessKey{testRoot, testRoot}})
		},
	}
	for name, f := range bad {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGeneratedIDsAndSecrets(t *testing.T) {
	ids, secrets := map[string]bool{}, map[string]bool{}
	for range 1000 {
		id, secret := newID(), newSecret()
		if !validID(id) || len(id) != idLength || !strings.HasPrefix(id, idPrefix) || strings.Trim(id[len(idPrefix):], idChars) != "" {
			t.Fatalf("id %q", id)
		}
		if len(secret) != identity.SecretLength || strings.Trim(secret, identity.SecretChars) != "" {
			t.Fatalf("secret of %d chars outside its alphabet", len(secret))
		}
		if ids[id] || secrets[secret] {
			t.Fatal("a repeated id or secret")
		}
		ids[id], secrets[secret] = true, true
	}
	for _, id := range []string{"", "AK", "AKABCDEFGHIJKLMNOPQ", "AKABCDEFGHIJKLMNOPQRS", "AKabcdefghijklmnopqr", "BKABCDEFGHIJKLMNOPQR", "AKABCDEFGHIJKLMNOPQ-", "AKABCDEFGHIJKLMNOPQ\u00c9"} {
		if validID(id) {
			t.Errorf("validID(%q) = true", id)
		}
	}
}
