package catalog

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
)

//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads one dialect's migrations in order and checks that
// they are numbered 1, 2, 3... with no gap or duplicate.
func loadMigrations(dir string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations/"+dir)
	if err != nil {
		return nil, fmt.Errorf("catalog: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name, so by number
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("catalog: migration file %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(ms)+1 {
			return nil, fmt.Errorf("catalog: migration file %s/%s: want number %04d", dir, e.Name(), len(ms)+1)
		}
		body, err := migrationFiles.ReadFile("migrations/" + dir + "/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("catalog: migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(body)})
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, all in one transaction
// that holds the dialect's migration lock (see the package documentation).
func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	ms, err := loadMigrations(d.name)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(ctx, "migrate "+d.title, err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := applyMigrations(ctx, tx, d, ms); err != nil {
		return wrap(ctx, "migrate "+d.title, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(ctx, "migrate "+d.title+": commit", err)
	}
	return nil
}

func applyMigrations(ctx context.Context, tx *sql.Tx, d *dialect, ms []migration) error {
	if d.lockSQL != "" {
		if _, err := tx.ExecContext(ctx, d.lockSQL, migrationLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.migrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, tx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if name, ok := applied[m.version]; ok {
			if name != m.name {
				return fmt.Errorf("version %d is %q in the database but %q in this build", m.version, name, m.name)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("%04d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fmt.Errorf("record %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

func appliedMigrations(ctx context.Context, tx *sql.Tx) (map[int]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := make(map[int]string)
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}
