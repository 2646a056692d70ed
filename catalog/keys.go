package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors of the access key records.
var (
	ErrAccessKeyExists = errors.New("catalog: access key already exists")
	ErrNoSuchAccessKey = errors.New("catalog: no such access key")
)

// AccessKeyStatus says whether an access key may sign requests.
type AccessKeyStatus string

// The states an access key can be in.
const (
	AccessKeyActive   AccessKeyStatus = "active"
	AccessKeyDisabled AccessKeyStatus = "disabled"
)

func (s AccessKeyStatus) valid() bool { return s == AccessKeyActive || s == AccessKeyDisabled }

// AccessKey is an access key's record. The catalogue holds the secret only
// sealed (see identity/seal); sealing and opening it is the caller's work.
type AccessKey struct {
	ID          string
	PrincipalID string
	DisplayName string
	// Roles and Groups are kept in order; empty lists come back nil.
	Roles  []string
	Groups []string
	// SealedSecret is the encrypted secret. ListAccessKeys leaves it nil.
	SealedSecret []byte
	Status       AccessKeyStatus
	Description  string
	// Created and Updated are kept to the microsecond and returned in UTC.
	// CreateAccessKey sets Created to now when zero, and Updated to Created.
	Created time.Time
	Updated time.Time
}

const (
	accessKeyListColumns = "id, principal_id, display_name, roles, groups, status, description, created_at, updated_at"
	accessKeyColumns     = accessKeyListColumns + ", sealed_secret"
)

func scanAccessKey(row interface{ Scan(...any) error }, sealed bool) (AccessKey, error) {
	var k AccessKey
	var roles, groups string
	dest := []any{&k.ID, &k.PrincipalID, &k.DisplayName, &roles, &groups, &k.Status, &k.Description,
		timeValue{&k.Created}, timeValue{&k.Updated}}
	if sealed {
		dest = append(dest, &k.SealedSecret)
	}
	if err := row.Scan(dest...); err != nil {
		return AccessKey{}, err
	}
	var err error
	if k.Roles, err = decodeNames(roles); err != nil {
		return AccessKey{}, fmt.Errorf("stored roles of %s: %w", k.ID, err)
	}
	if k.Groups, err = decodeNames(groups); err != nil {
		return AccessKey{}, fmt.Errorf("stored groups of %s: %w", k.ID, err)
	}
	return k, nil
}

func encodeNames(names []string) string {
	if len(names) == 0 {
		return "[]" // not "null": the column holds an array
	}
	b, _ := json.Marshal(names) // a []string always marshals
	return string(b)
}

func decodeNames(doc string) ([]string, error) {
	var names []string
	if err := json.Unmarshal([]byte(doc), &names); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	return names, nil
}

// CreateAccessKey records a new access key. Of concurrent calls for one id,
// across any number of processes, exactly one succeeds; the others get
// ErrAccessKeyExists. An empty Status means active.
func (c *Catalog) CreateAccessKey(ctx context.Context, k AccessKey) error {
	switch {
	case k.ID == "":
		return errors.New("catalog: empty access key id")
	case k.PrincipalID == "":
		return errors.New("catalog: access key without a principal")
	case len(k.SealedSecret) == 0:
		return errors.New("catalog: access key without a sealed secret")
	}
	if k.Status == "" {
		k.Status = AccessKeyActive
	}
	if !k.Status.valid() {
		return fmt.Errorf("catalog: access key status %q is not %q or %q", k.Status, AccessKeyActive, AccessKeyDisabled)
	}
	if k.Created.IsZero() {
		k.Created = time.Now()
	}
	if k.Updated.IsZero() {
		k.Updated = k.Created
	}
	res, err := c.w.ExecContext(ctx,
		"INSERT INTO access_keys ("+accessKeyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
		k.ID, k.PrincipalID, k.DisplayName, encodeNames(k.Roles), encodeNames(k.Groups), string(k.Status), k.Description,
		c.d.timeArg(k.Created), c.d.timeArg(k.Updated), k.SealedSecret)
	if err != nil {
		return wrap(ctx, "create access key", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(ctx, "create access key", err)
	} else if n == 0 {
		return ErrAccessKeyExists
	}
	return nil
}

// GetAccessKey returns the access key with its sealed secret, or
// ErrNoSuchAccessKey. It always reads the database: callers that cache
// decide for how long.
func (c *Catalog) GetAccessKey(ctx context.Context, id string) (AccessKey, error) {
	k, err := scanAccessKey(c.r.QueryRowContext(ctx,
		"SELECT "+accessKeyColumns+" FROM access_keys WHERE id = $1", id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return AccessKey{}, ErrNoSuchAccessKey
	}
	if err != nil {
		return AccessKey{}, wrap(ctx, "get access key", err)
	}
	return k, nil
}

// ListAccessKeys returns the access keys of one principal, or of all when
// principalID is "", sorted by id (byte order). Sealed secrets are left out.
func (c *Catalog) ListAccessKeys(ctx context.Context, principalID string) ([]AccessKey, error) {
	q, args := "SELECT "+accessKeyListColumns+" FROM access_keys ORDER BY id", []any(nil)
	if principalID != "" {
		q, args = "SELECT "+accessKeyListColumns+" FROM access_keys WHERE principal_id = $1 ORDER BY id", []any{principalID}
	}
	rows, err := c.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(ctx, "list access keys", err)
	}
	defer rows.Close()
	var ks []AccessKey
	for rows.Next() {
		k, err := scanAccessKey(rows, false)
		if err != nil {
			return nil, wrap(ctx, "list access keys", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, "list access keys", err)
	}
	return ks, nil
}

// SetAccessKeyStatus changes the key's status and its Updated time, or
// returns ErrNoSuchAccessKey.
func (c *Catalog) SetAccessKeyStatus(ctx context.Context, id string, status AccessKeyStatus) error {
	if !status.valid() {
		return fmt.Errorf("catalog: access key status %q is not %q or %q", status, AccessKeyActive, AccessKeyDisabled)
	}
	res, err := c.w.ExecContext(ctx,
		"UPDATE access_keys SET status = $1, updated_at = $2 WHERE id = $3",
		string(status), c.d.timeArg(time.Now()), id)
	if err != nil {
		return wrap(ctx, "set access key status", err)
	}
	return requireAccessKey(ctx, res, "set access key status")
}

// DeleteAccessKey removes the key's record, or returns ErrNoSuchAccessKey.
func (c *Catalog) DeleteAccessKey(ctx context.Context, id string) error {
	res, err := c.w.ExecContext(ctx, "DELETE FROM access_keys WHERE id = $1", id)
	if err != nil {
		return wrap(ctx, "delete access key", err)
	}
	return requireAccessKey(ctx, res, "delete access key")
}

// requireAccessKey turns "no row changed" into ErrNoSuchAccessKey.
func requireAccessKey(ctx context.Context, res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(ctx, op, err)
	}
	if n == 0 {
		return ErrNoSuchAccessKey
	}
	return nil
}
