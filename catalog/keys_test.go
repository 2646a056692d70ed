package catalog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAccessKeys(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600))
	alice := AccessKey{
		ID: "AKALICE1", PrincipalID: "user:alice", DisplayName: "Alice",
		Roles: []string{"writer", "admin"}, Groups: []string{"eng", "ops"},
		SealedSecret: []byte{1, 0, 0xff, 'x'}, Status: AccessKeyActive,
		Description: "laptop", Created: created,
	}
	// What comes back: microseconds, UTC, Updated defaulted to Created.
	aliceStored := alice
	aliceStored.Created = created.Truncate(time.Microsecond).UTC()
	aliceStored.Updated = aliceStored.Created
	aliceListed := aliceStored
	aliceListed.SealedSecret = nil

	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		getIs := func(id string, want AccessKey) func() error {
			return func() error {
				got, err := c.GetAccessKey(ctx, id)
				if err == nil && !reflect.DeepEqual(got, want) {
					return fmt.Errorf("GetAccessKey = %+v, want %+v", got, want)
				}
				return err
			}
		}
		listIs := func(principal string, want ...string) func() error {
			return func() error {
				ks, err := c.ListAccessKeys(ctx, principal)
				var ids []string
				for _, k := range ks {
					if k.SealedSecret != nil {
						return fmt.Errorf("ListAccessKeys returned the sealed secret of %s", k.ID)
					}
					ids = append(ids, k.ID)
				}
				if err == nil && !reflect.DeepEqual(ids, want) {
					return fmt.Errorf("ListAccessKeys(%q) = %q, want %q", principal, ids, want)
				}
				return err
			}
		}
		create := func(k AccessKey) func() error { return func() error { return c.CreateAccessKey(ctx, k) } }
		setStatus := func(id string, s AccessKeyStatus) func() error {
			return func() error { return c.SetAccessKeyStatus(ctx, id, s) }
		}
		del := func(id string) func() error { return func() error { return c.DeleteAccessKey(ctx, id) } }
		sealed := []byte{9}
		steps := []struct {
			name string
			do   func() error
			want error
		}{
			{"get missing", getIs("AKALICE1", AccessKey{}), ErrNoSuchAccessKey},
			{"list empty", listIs(""), nil},
			{"set status missing", setStatus("AKALICE1", AccessKeyDisabled), ErrNoSuchAccessKey},
			{"delete missing", del("AKALICE1"), ErrNoSuchAccessKey},
			{"create", create(alice), nil},
			{"get", getIs("AKALICE1", aliceStored), nil},
			{"list one", func() error {
				ks, err := c.ListAccessKeys(ctx, "")
				if err == nil && !reflect.DeepEqual(ks, []AccessKey{aliceListed}) {
					return fmt.Errorf("ListAccessKeys = %+v, want %+v", ks, aliceListed)
				}
				return err
			}, nil},
			{"create duplicate", create(AccessKey{ID: "AKALICE1", PrincipalID: "user:mallory", SealedSecret: sealed}), ErrAccessKeyExists},
			{"duplicate changed nothing", getIs("AKALICE1", aliceStored), nil},
			{"ids are case-sensitive", getIs("akalice1", AccessKey{}), ErrNoSuchAccessKey},
			// Byte order puts "AKB" before "AK_" before "AKa", whatever the locale.
			{"create second", create(AccessKey{ID: "AKa", PrincipalID: "user:bob", SealedSecret: sealed}), nil},
			{"create third", create(AccessKey{ID: "AK_", PrincipalID: "user:alice", SealedSecret: sealed}), nil},
			{"create fourth", create(AccessKey{ID: "AKB", PrincipalID: "user:bob", SealedSecret: sealed}), nil},
			{"list all by id", listIs("", "AKALICE1", "AKB", "AK_", "AKa"), nil},
			{"list alice", listIs("user:alice", "AKALICE1", "AK_"), nil},
			{"list bob", listIs("user:bob", "AKB", "AKa"), nil},
			{"list nobody", listIs("user:nobody"), nil},
			{"disable", setStatus("AKALICE1", AccessKeyDisabled), nil},
			{"disabled", func() error {
				k, err := c.GetAccessKey(ctx, "AKALICE1")
				if err == nil && (k.Status != AccessKeyDisabled || !k.Created.Equal(aliceStored.Created) ||
					k.Updated.Location() != time.UTC || time.Since(k.Updated).Abs() > time.Minute) {
					return fmt.Errorf("after disable: %+v", k)
				}
				return err
			}, nil},
			{"enable", setStatus("AKALICE1", AccessKeyActive), nil},
			{"enabled", func() error {
				k, err := c.GetAccessKey(ctx, "AKALICE1")
				if err == nil && k.Status != AccessKeyActive {
					return fmt.Errorf("after enable: %+v", k)
				}
				return err
			}, nil},
			{"bad status", setStatus("AKALICE1", "paused"), errAny},
			{"delete", del("AKALICE1"), nil},
			{"get deleted", getIs("AKALICE1", AccessKey{}), ErrNoSuchAccessKey},
			{"delete again", del("AKALICE1"), ErrNoSuchAccessKey},
			{"list after delete", listIs("", "AKB", "AK_", "AKa"), nil},
			{"re-create", create(AccessKey{ID: "AKALICE1", PrincipalID: "user:carol", SealedSecret: sealed}), nil},
			{"re-created is new", func() error {
				k, err := c.GetAccessKey(ctx, "AKALICE1")
				if err == nil && (k.PrincipalID != "user:carol" || k.Roles != nil || k.Groups != nil || k.Status != AccessKeyActive || k.Description != "") {
					return fmt.Errorf("got %+v", k)
				}
				return err
			}, nil},
			{"empty id", create(AccessKey{PrincipalID: "p", SealedSecret: sealed}), errAny},
			{"empty principal", create(AccessKey{ID: "AKX", SealedSecret: sealed}), errAny},
			{"no sealed secret", create(AccessKey{ID: "AKX", PrincipalID: "p"}), errAny},
			{"create bad status", create(AccessKey{ID: "AKX", PrincipalID: "p", SealedSecret: sealed, Status: "paused"}), errAny},
			{"refused creates wrote nothing", getIs("AKX", AccessKey{}), ErrNoSuchAccessKey},
			{"create disabled", create(AccessKey{ID: "AKY", PrincipalID: "p", SealedSecret: sealed, Status: AccessKeyDisabled}), nil},
			{"created disabled", func() error {
				k, err := c.GetAccessKey(ctx, "AKY")
				if err == nil && k.Status != AccessKeyDisabled {
					return fmt.Errorf("got %+v", k)
				}
				return err
			}, nil},
		}
		for _, s := range steps {
			if err := s.do(); !matches(err, s.want) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.want)
			}
		}
	})
}

func TestCreateAccessKeySetsTimes(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		before := time.Now().Add(-time.Second)
		if err := c.CreateAccessKey(ctx, AccessKey{ID: "AK1", PrincipalID: "p", SealedSecret: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		k, err := c.GetAccessKey(ctx, "AK1")
		if err != nil {
			t.Fatal(err)
		}
		if k.Created.Before(before) || k.Created.After(time.Now()) || k.Created.Location() != time.UTC || !k.Updated.Equal(k.Created) {
			t.Errorf("Created = %v, Updated = %v", k.Created, k.Updated)
		}
	})
}

// The table itself refuses rows the Go code would never write, so a bug or a
// hand edit cannot leave a key in an unknown state.
func TestAccessKeyConstraints(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		now := c.d.timeArg(time.Now())
		insert := func(id, principal, roles, groups string, sealed []byte, status string) error {
			_, err := c.w.ExecContext(ctx,
				"INSERT INTO access_keys ("+accessKeyColumns+") VALUES ($1, $2, '', $3, $4, $5, '', $6, $6, $7)",
				id, principal, roles, groups, status, now, sealed)
			return err
		}
		if err := insert("AKOK", "p", "[]", `["g"]`, []byte{1}, "active"); err != nil {
			t.Fatalf("a good row was refused: %v", err)
		}
		bad := map[string]error{
			"status":        insert("AK1", "p", "[]", "[]", []byte{1}, "paused"),
			"empty id":      insert("", "p", "[]", "[]", []byte{1}, "active"),
			"empty owner":   insert("AK2", "", "[]", "[]", []byte{1}, "active"),
			"roles object":  insert("AK3", "p", "{}", "[]", []byte{1}, "active"),
			"groups null":   insert("AK4", "p", "[]", "null", []byte{1}, "active"),
			"empty secret":  insert("AK5", "p", "[]", "[]", []byte{}, "active"),
			"duplicate key": insert("AKOK", "p", "[]", "[]", []byte{1}, "active"),
		}
		for name, err := range bad {
			if err == nil {
				t.Errorf("%s: row accepted", name)
			}
		}
	})
}

// Of concurrent creates of one id, from two processes' worth of
// connections, exactly one wins.
func TestConcurrentCreateAccessKey(t *testing.T) {
	const creators = 8
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		cats := []*Catalog{openT(t, dsn), openT(t, dsn)}
		ctx := testCtx(t)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, creators)
		for i := range creators {
			wg.Go(func() {
				<-start
				errs[i] = cats[i%2].CreateAccessKey(ctx, AccessKey{ID: "AKRACE", PrincipalID: fmt.Sprint("p", i), SealedSecret: []byte{byte(i + 1)}})
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Errorf("creators %d and %d both succeeded", won, i)
			case err == nil:
				won = i
			case !errors.Is(err, ErrAccessKeyExists):
				t.Errorf("creator %d: %v", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no creator succeeded")
		}
		k, err := cats[0].GetAccessKey(ctx, "AKRACE")
		if err != nil || k.PrincipalID != fmt.Sprint("p", won) || !bytes.Equal(k.SealedSecret, []byte{byte(won + 1)}) {
			t.Errorf("stored %+v, %v; winner was %d", k, err, won)
		}
	})
}

// A catalogue created by a release that knew only migration 0001, holding
// data, takes 0002 on the next Open and keeps its data.
func TestAccessKeysMigrateExistingDatabase(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		ctx := testCtx(t)
		w, d := openRawT(t, dsn)
		ms, err := loadMigrations(d.name)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) < 2 || ms[1].name != "access_keys" {
			t.Fatalf("migration 2 is not access_keys: %+v", ms)
		}
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := applyMigrations(ctx, tx, d, ms[:1]); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO buckets (name, owner_id, owner_name, created_at) VALUES ($1, $2, $3, $4)",
			"old", "root", "root", d.timeArg(time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := w.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != 1 {
			t.Fatalf("before: %d migrations recorded, %v", n, err)
		}
		w.Close()

		c := openT(t, dsn)
		wantAllApplied(t, c)
		if _, err := c.GetBucket(ctx, "old"); err != nil {
			t.Fatalf("bucket lost in the migration: %v", err)
		}
		if err := c.CreateAccessKey(ctx, AccessKey{ID: "AK1", PrincipalID: "root", SealedSecret: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		if ks, err := c.ListAccessKeys(ctx, ""); err != nil || len(ks) != 1 {
			t.Fatalf("ListAccessKeys = %+v, %v", ks, err)
		}
	})
}

// openRawT opens dsn's database without migrating it.
func openRawT(t *testing.T, dsn string) (*sql.DB, *dialect) {
	t.Helper()
	ctx := testCtx(t)
	if strings.HasPrefix(dsn, "postgres://") {
		db, err := openPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, postgresDialect
	}
	path, err := sqlitePath(dsn, true)
	if err != nil {
		t.Fatal(err)
	}
	w, r, err := openSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { w.Close() })
	return w, sqliteDialect
}

func TestAccessKeysCancelledContext(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		if err := c.CreateAccessKey(testCtx(t), AccessKey{ID: "AK1", PrincipalID: "p", SealedSecret: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		calls := map[string]func() error{
			"CreateAccessKey": func() error {
				return c.CreateAccessKey(ctx, AccessKey{ID: "AK2", PrincipalID: "p", SealedSecret: []byte{1}})
			},
			"GetAccessKey":       func() error { _, err := c.GetAccessKey(ctx, "AK1"); return err },
			"ListAccessKeys":     func() error { _, err := c.ListAccessKeys(ctx, ""); return err },
			"SetAccessKeyStatus": func() error { return c.SetAccessKeyStatus(ctx, "AK1", AccessKeyDisabled) },
			"DeleteAccessKey":    func() error { return c.DeleteAccessKey(ctx, "AK1") },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err = %v, want context.Canceled", name, err)
			}
		}
		// Nothing changed.
		k, err := c.GetAccessKey(testCtx(t), "AK1")
		if err != nil || k.Status != AccessKeyActive {
			t.Errorf("AK1 = %+v, %v", k, err)
		}
		if _, err := c.GetAccessKey(testCtx(t), "AK2"); !errors.Is(err, ErrNoSuchAccessKey) {
			t.Errorf("AK2: %v", err)
		}
	})
}
