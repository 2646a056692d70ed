package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/s3gate/s3gate/internal/sqlstore"
)

// Errors of the object rows.
var (
	ErrNoSuchObject = errors.New("catalog: no such object")
	// ErrInvalidObjectKey: the bucket or key is not valid UTF-8 or holds a
	// NUL byte, which PostgreSQL cannot store (SQLite is held to the same
	// rule so both behave alike). Retrying cannot help.
	ErrInvalidObjectKey = errors.New("catalog: bucket or key is not storable text")
	// ErrInvalidFilter: an ObjectFilter that cannot be run, such as one
	// without read grants or with a forged page token.
	ErrInvalidFilter = errors.New("catalog: invalid object filter")
)

// Object is an object's row: what the backend said of one version of the
// object, who wrote it, and what later hooks found in it.
//
// A row describes the key rather than one write: Created is kept from the
// first version the row recorded while the row exists (an overwrite keeps
// it; a delete ends the row, and the next write starts a new one), while
// every other field describes the current version.
type Object struct {
	Bucket string
	Key    string
	Size   int64
	// ETag is the backend's, without quotes.
	ETag string
	// The additional checksum, as S3 spells it (CRC32, ...), its base64
	// value and type (FULL_OBJECT or COMPOSITE); empty when none.
	ChecksumAlgorithm string
	ChecksumValue     string
	ChecksumType      string
	// ContentType is the declared Content-Type, as stored by the backend.
	ContentType string
	// SniffedContentType is the media type the first bytes suggest
	// (lower case, without parameters); empty for an empty object.
	SniffedContentType string
	// Owner is the principal that wrote this version, and OwnerSequencer
	// the sequencer of the event that said so: a claim from an older event
	// never replaces a newer one. Both are the loader's to decide (see
	// SyncObject).
	Owner          string
	OwnerSequencer string
	// Created and Modified are kept to the microsecond and returned in
	// UTC. Modified is the backend's LastModified. SyncObject sets Created
	// (see above); a loader may leave it zero.
	Created  time.Time
	Modified time.Time
	// Metadata is the user metadata (lower-case names without x-amz-meta-)
	// and Tags the object's tags; empty maps come back nil.
	Metadata map[string]string
	Tags     map[string]string
	// Sequencer is the greatest event sequencer applied to the row.
	Sequencer string
	// HookFields are filled by later hooks through SetObjectFields and
	// cleared when SyncObject records a new version.
	HookFields
}

// HookFields are the columns later hooks fill for the version an ETag
// names. In SetObjectFields a nil field is left as it is; a non-nil one is
// written, and an empty string or empty JSON there clears the column.
type HookFields struct {
	ImageWidth  *int
	ImageHeight *int
	// EXIF and Variants are JSON documents.
	EXIF        json.RawMessage
	Variants    json.RawMessage
	ScanVerdict *string
	HookError   *string
}

// sameState reports whether o and n describe the same stored state, apart
// from the fields the catalogue keeps itself (Created, Sequencer, hooks).
func (o *Object) sameState(n *Object) bool {
	return o.Size == n.Size && o.ETag == n.ETag &&
		o.ChecksumAlgorithm == n.ChecksumAlgorithm && o.ChecksumValue == n.ChecksumValue && o.ChecksumType == n.ChecksumType &&
		o.ContentType == n.ContentType && o.SniffedContentType == n.SniffedContentType &&
		o.Owner == n.Owner && o.OwnerSequencer == n.OwnerSequencer &&
		o.Modified.Equal(n.Modified) &&
		maps.Equal(o.Metadata, n.Metadata) && maps.Equal(o.Tags, n.Tags)
}

const objectColumns = "bucket, key, size, etag, checksum_algorithm, checksum_value, checksum_type, " +
	"content_type, content_type_sniffed, owner, owner_sequencer, created_at, modified_at, metadata, tags, sequencer, " +
	"image_width, image_height, exif, variants, scan_verdict, hook_error"

func scanObject(row interface{ Scan(...any) error }) (Object, error) {
	var o Object
	var meta, tags string
	var width, height sql.NullInt64
	var exif, variants, verdict, hookErr sql.NullString
	err := row.Scan(&o.Bucket, &o.Key, &o.Size, &o.ETag, &o.ChecksumAlgorithm, &o.ChecksumValue, &o.ChecksumType,
		&o.ContentType, &o.SniffedContentType, &o.Owner, &o.OwnerSequencer, timeValue{&o.Created}, timeValue{&o.Modified},
		&meta, &tags, &o.Sequencer, &width, &height, &exif, &variants, &verdict, &hookErr)
	if err != nil {
		return Object{}, err
	}
	if o.Metadata, err = decodeStringMap(meta); err != nil {
		return Object{}, fmt.Errorf("stored metadata of %s/%s: %w", o.Bucket, o.Key, err)
	}
	if o.Tags, err = decodeStringMap(tags); err != nil {
		return Object{}, fmt.Errorf("stored tags of %s/%s: %w", o.Bucket, o.Key, err)
	}
	if width.Valid {
		o.ImageWidth = new(int(width.Int64))
	}
	if height.Valid {
		o.ImageHeight = new(int(height.Int64))
	}
	if exif.Valid {
		o.EXIF = json.RawMessage(exif.String)
	}
	if variants.Valid {
		o.Variants = json.RawMessage(variants.String)
	}
	if verdict.Valid {
		o.ScanVerdict = &verdict.String
	}
	if hookErr.Valid {
		o.HookError = &hookErr.String
	}
	return o, nil
}

func encodeStringMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}" // not "null": the column holds an object
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

func decodeStringMap(doc string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// storable reports whether s can be stored in a text column of both
// databases.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// clean makes s storable: invalid UTF-8 becomes U+FFFD and NUL bytes go.
// It is for descriptive text only, never for names that identify a row.
func clean(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func cleanMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[clean(k)] = clean(v)
	}
	return out
}

// mediaType is a Content-Type's media type, lower case and without
// parameters: what content type filters compare.
func mediaType(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// normalize makes a loaded object what the row will hold.
func (o *Object) normalize(bucket, key string) {
	o.Bucket, o.Key = bucket, key
	o.ETag = clean(o.ETag)
	o.ChecksumAlgorithm, o.ChecksumValue, o.ChecksumType = clean(o.ChecksumAlgorithm), clean(o.ChecksumValue), clean(o.ChecksumType)
	o.ContentType = clean(o.ContentType)
	o.SniffedContentType = mediaType(clean(o.SniffedContentType))
	o.Owner, o.OwnerSequencer = clean(o.Owner), clean(o.OwnerSequencer)
	o.Modified = o.Modified.UTC().Truncate(time.Microsecond)
	o.Created = o.Created.UTC().Truncate(time.Microsecond)
	o.Metadata, o.Tags = cleanMap(o.Metadata), cleanMap(o.Tags)
}

// SyncResult is what SyncObject did.
type SyncResult struct {
	// Changed: the row was inserted, updated or deleted.
	Changed bool
	// Stale: seq is older than a sequencer the processor had already
	// applied to the key. The row was still brought up to the loaded state.
	Stale bool
	// Sequencer is the greatest sequencer the processor has applied to
	// the key, seq included.
	Sequencer string
	// Object is the row as it now stands, hook fields included; nil when
	// the object does not exist.
	Object *Object
}

// LoadFunc reads an object's current state from the backend: nil when the
// object does not exist. current is the row as stored, nil when there is
// none; the loader uses it to keep what the backend does not know (the
// owner, when the event at hand did not write the object).
type LoadFunc func(ctx context.Context, current *Object) (*Object, error)

// SyncObject brings the row of bucket/key up to the object's current state,
// for the event with sequencer seq that processor is applying. It is the
// per-key critical section of the metadata processor and of later hooks.
//
// Holding processor's lock on the key, it reads the row, calls load, which
// reads the current state from the backend, and writes that state: it
// upserts the row, or deletes it when load returns nil, and skips the
// write when the row already says the same. It then records seq as the
// processor's sequencer of the key, if greater than the one recorded. That
// record outlives the row (a tombstone) until PruneTombstones removes it.
//
// Why the current state rather than the event's: the gateway hands out a
// sequencer before it calls the backend, so a slow PUT and a fast DELETE of
// one key can commit in the opposite order of their sequencers, and events
// arrive at least once, in any order. But each event is published after
// its commit, so the last event processed loads the state after every
// commit, and with the key locked its write is the last one: the row
// converges on the backend. An older event (SyncResult.Stale) is harmless
// because it too writes only what the backend holds now.
//
// The lock: on PostgreSQL a transaction-scoped advisory lock on a 64-bit
// hash of processor, bucket and key, taken in the transaction that reads
// and writes the row, so replicas on other machines queue too (the
// transaction stays open while load runs). On SQLite one process owns the
// file, so an in-process lock striped by the same hash serialises load and
// write, and the write itself is one short transaction on the single
// writer connection; processes sharing one SQLite file are not serialised.
//
// The row keeps Created while it exists and sets it to the loaded Created,
// or else Modified, when new. A new version (ETag, size or Modified
// differ) clears the hook fields. Errors from load are returned unchanged.
func (c *Catalog) SyncObject(ctx context.Context, processor, bucket, key, seq string, load LoadFunc) (SyncResult, error) {
	if processor == "" {
		return SyncResult{}, errors.New("catalog: sync object: no processor named")
	}
	if bucket == "" || key == "" || !storable(bucket) || !storable(key) {
		return SyncResult{}, ErrInvalidObjectKey
	}
	seq = clean(seq)
	var res SyncResult
	var loadErr error
	err := c.withKeyLock(ctx, processor, bucket, key, func(rd querier, write writeFunc) error {
		res = SyncResult{}
		current, stored, err := readSyncState(ctx, rd, processor, bucket, key)
		if err != nil {
			return err
		}
		res.Stale = seq != "" && seq < stored
		res.Sequencer = max(stored, seq)
		var cur *Object
		if current != nil {
			cp := *current // the loader may scribble on its copy
			cp.Metadata, cp.Tags = maps.Clone(cp.Metadata), maps.Clone(cp.Tags)
			cur = &cp
		}
		next, err := load(ctx, cur)
		if err != nil {
			loadErr = err
			return err
		}
		if next != nil {
			n := *next
			n.normalize(bucket, key)
			next = &n
		}
		// A re-delivery, or an older event finding the state it would
		// write: no write transaction at all.
		if (next == nil && current == nil || next != nil && current != nil && current.sameState(next) && seq <= current.Sequencer) &&
			seq <= stored {
			res.Object = current
			return nil
		}
		return write(func(ctx context.Context, tx execer) error {
			if err := c.writeSyncState(ctx, tx, current, next, bucket, key, seq, &res); err != nil {
				return err
			}
			if seq <= stored {
				return nil
			}
			_, err := tx.ExecContext(ctx, recordSequencer, bucket, key, processor, seq, c.d.timeArg(time.Now()))
			return err
		})
	})
	if loadErr != nil {
		return SyncResult{}, loadErr
	}
	if err != nil {
		return SyncResult{}, wrap(ctx, "sync object", err)
	}
	return res, nil
}

// The statements of the hot path (see hotpath.go), besides objectUpsert
// and tagInsertSQL's.
const (
	selectObject     = "SELECT " + objectColumns + " FROM objects WHERE bucket = $1 AND key = $2"
	selectSequencer  = "SELECT sequencer FROM hook_sequencers WHERE bucket = $1 AND key = $2 AND processor = $3"
	deleteObjectRow  = "DELETE FROM objects WHERE bucket = $1 AND key = $2"
	raiseSequencer   = "UPDATE objects SET sequencer = $3 WHERE bucket = $1 AND key = $2 AND sequencer < $3"
	deleteObjectTags = "DELETE FROM object_tags WHERE bucket = $1 AND key = $2"
)

// hotStatements are prepared once on SQLite.
func hotStatements() []string {
	qs := []string{selectObject, selectSequencer, deleteObjectRow, raiseSequencer, deleteObjectTags, recordSequencer, objectUpsert}
	for n := 1; n <= maxObjectTags; n++ {
		qs = append(qs, tagInsertSQL(n))
	}
	return qs
}

// maxObjectTags is S3's limit on an object's tags.
const maxObjectTags = 10

// recordSequencer records a processor's sequencer of a key, unless a
// greater one is recorded.
const recordSequencer = `INSERT INTO hook_sequencers (bucket, key, processor, sequencer, updated_at) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (bucket, key, processor) DO UPDATE SET sequencer = excluded.sequencer, updated_at = excluded.updated_at
	WHERE hook_sequencers.sequencer < excluded.sequencer`

// readSyncState reads the row and the processor's recorded sequencer.
func readSyncState(ctx context.Context, rd querier, processor, bucket, key string) (*Object, string, error) {
	var current *Object
	o, err := scanObject(rd.QueryRowContext(ctx, selectObject, bucket, key))
	switch {
	case err == nil:
		current = &o
	case !errors.Is(err, sql.ErrNoRows):
		return nil, "", err
	}
	var stored string
	err = rd.QueryRowContext(ctx, selectSequencer,
		bucket, key, processor).Scan(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, "", err
	}
	return current, stored, nil
}

// objectUpsert inserts a row or replaces its state. Created is kept, the
// sequencer only grows, and hook fields survive only while the version
// (ETag, size, LastModified) stays the same.
const objectUpsert = `INSERT INTO objects (bucket, key, size, etag, checksum_algorithm, checksum_value, checksum_type,
		content_type, media_type, content_type_sniffed, owner, owner_sequencer, created_at, modified_at, metadata, tags, sequencer)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
	ON CONFLICT (bucket, key) DO UPDATE SET
		size = excluded.size, etag = excluded.etag,
		checksum_algorithm = excluded.checksum_algorithm, checksum_value = excluded.checksum_value, checksum_type = excluded.checksum_type,
		content_type = excluded.content_type, media_type = excluded.media_type, content_type_sniffed = excluded.content_type_sniffed,
		owner = excluded.owner, owner_sequencer = excluded.owner_sequencer,
		modified_at = excluded.modified_at, metadata = excluded.metadata, tags = excluded.tags,
		sequencer = CASE WHEN objects.sequencer > excluded.sequencer THEN objects.sequencer ELSE excluded.sequencer END,
		image_width = CASE WHEN ` + sameVersionSQL + ` THEN objects.image_width END,
		image_height = CASE WHEN ` + sameVersionSQL + ` THEN objects.image_height END,
		exif = CASE WHEN ` + sameVersionSQL + ` THEN objects.exif END,
		variants = CASE WHEN ` + sameVersionSQL + ` THEN objects.variants END,
		scan_verdict = CASE WHEN ` + sameVersionSQL + ` THEN objects.scan_verdict END,
		hook_error = CASE WHEN ` + sameVersionSQL + ` THEN objects.hook_error END
	RETURNING ` + objectColumns

const sameVersionSQL = "objects.etag = excluded.etag AND objects.size = excluded.size AND objects.modified_at = excluded.modified_at"

// writeSyncState writes next, normalized, over current (nil: absent) and
// fills res.
func (c *Catalog) writeSyncState(ctx context.Context, tx execer, current, next *Object, bucket, key, seq string, res *SyncResult) error {
	if next == nil {
		r, err := tx.ExecContext(ctx, deleteObjectRow, bucket, key) // tags cascade
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		res.Changed = n > 0
		return err
	}
	n := *next
	if current != nil && current.sameState(&n) {
		res.Object = current
		if seq > current.Sequencer {
			_, err := tx.ExecContext(ctx, raiseSequencer,
				bucket, key, seq)
			current.Sequencer = seq
			return err
		}
		return nil
	}
	created := n.Created
	if created.IsZero() {
		created = n.Modified
	}
	row, err := scanObject(tx.QueryRowContext(ctx, objectUpsert,
		bucket, key, n.Size, n.ETag, n.ChecksumAlgorithm, n.ChecksumValue, n.ChecksumType,
		n.ContentType, mediaType(n.ContentType), n.SniffedContentType, n.Owner, n.OwnerSequencer,
		c.d.timeArg(created), c.d.timeArg(n.Modified), encodeStringMap(n.Metadata), encodeStringMap(n.Tags), seq))
	if err != nil {
		return err
	}
	if err := replaceObjectTags(ctx, tx, bucket, key, n.Tags); err != nil {
		return err
	}
	res.Changed, res.Object = true, &row
	return nil
}

// replaceObjectTags makes object_tags hold exactly tags for the object.
// Always done with the row's upsert, whose row lock orders it.
func replaceObjectTags(ctx context.Context, tx execer, bucket, key string, tags map[string]string) error {
	if _, err := tx.ExecContext(ctx, deleteObjectTags, bucket, key); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(tags))
	args := []any{bucket, key}
	for _, k := range keys {
		args = append(args, k, tags[k])
	}
	_, err := tx.ExecContext(ctx, tagInsertSQL(len(keys)), args...)
	return err
}

// tagInsertSQL inserts n tags of one object: ($1, $2) are the bucket and
// key, then a key and value per tag.
func tagInsertSQL(n int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO object_tags (bucket, key, tag_key, tag_value) VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("($1, $2, $" + strconv.Itoa(2*i+3) + ", $" + strconv.Itoa(2*i+4) + ")")
	}
	return q.String()
}

// SetObjectFields is how a later hook (image, scan) records what it found
// in the version of bucket/key that etag names, for the event with
// sequencer seq. Under the hook's lock on the key (see SyncObject) it
// writes the non-nil fields of f, unless the hook has already applied a
// newer event to the key or the row no longer describes that version; it
// reports whether the row was written, and records seq as SyncObject does.
func (c *Catalog) SetObjectFields(ctx context.Context, processor, bucket, key, seq, etag string, f HookFields) (bool, error) {
	if processor == "" {
		return false, errors.New("catalog: set object fields: no processor named")
	}
	if bucket == "" || key == "" || !storable(bucket) || !storable(key) {
		return false, ErrInvalidObjectKey
	}
	var sets []string
	args := []any{bucket, key, etag}
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
	}
	if f.ImageWidth != nil {
		set("image_width", *f.ImageWidth)
	}
	if f.ImageHeight != nil {
		set("image_height", *f.ImageHeight)
	}
	jsonArg := func(doc json.RawMessage) any {
		if len(doc) == 0 {
			return nil
		}
		return string(doc)
	}
	if f.EXIF != nil {
		if len(f.EXIF) > 0 && !json.Valid(f.EXIF) {
			return false, errors.New("catalog: set object fields: EXIF is not JSON")
		}
		set("exif", jsonArg(f.EXIF))
	}
	if f.Variants != nil {
		if len(f.Variants) > 0 && !json.Valid(f.Variants) {
			return false, errors.New("catalog: set object fields: variants are not JSON")
		}
		set("variants", jsonArg(f.Variants))
	}
	textArg := func(s *string) any {
		if *s == "" {
			return nil
		}
		return clean(*s)
	}
	if f.ScanVerdict != nil {
		set("scan_verdict", textArg(f.ScanVerdict))
	}
	if f.HookError != nil {
		set("hook_error", textArg(f.HookError))
	}
	seq = clean(seq)
	var written bool
	err := c.withKeyLock(ctx, processor, bucket, key, func(rd querier, write writeFunc) error {
		written = false
		var stored string
		err := rd.QueryRowContext(ctx, selectSequencer,
			bucket, key, processor).Scan(&stored)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if seq != "" && seq < stored {
			return nil // a newer event of this hook has been applied
		}
		return write(func(ctx context.Context, tx execer) error {
			if len(sets) > 0 {
				r, err := tx.ExecContext(ctx, "UPDATE objects SET "+strings.Join(sets, ", ")+
					" WHERE bucket = $1 AND key = $2 AND etag = $3", args...)
				if err != nil {
					return err
				}
				n, err := r.RowsAffected()
				if err != nil {
					return err
				}
				written = n > 0
			}
			if seq == "" {
				return nil
			}
			_, err := tx.ExecContext(ctx, recordSequencer, bucket, key, processor, seq, c.d.timeArg(time.Now()))
			return err
		})
	})
	if err != nil {
		return false, wrap(ctx, "set object fields", err)
	}
	return written, nil
}

// GetObject returns the row of bucket/key, or ErrNoSuchObject.
func (c *Catalog) GetObject(ctx context.Context, bucket, key string) (Object, error) {
	if !storable(bucket) || !storable(key) {
		return Object{}, ErrNoSuchObject
	}
	o, err := scanObject(c.r.QueryRowContext(ctx, selectObject, bucket, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Object{}, ErrNoSuchObject
	}
	if err != nil {
		return Object{}, wrap(ctx, "get object", err)
	}
	return o, nil
}

// ProcessorSequencer returns the greatest sequencer processor has applied
// to bucket/key, "" when none (or its tombstone was pruned).
func (c *Catalog) ProcessorSequencer(ctx context.Context, processor, bucket, key string) (string, error) {
	var seq string
	err := c.r.QueryRowContext(ctx, selectSequencer,
		bucket, key, processor).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", wrap(ctx, "get processor sequencer", err)
	}
	return seq, nil
}

// PruneTombstones removes the recorded sequencers of keys that have no row
// and were last updated more than age ago, and returns how many went. It
// deletes in small batches, so it never holds the SQLite writer for long.
func (c *Catalog) PruneTombstones(ctx context.Context, age time.Duration) (int64, error) {
	const batch = 1000
	cutoff := c.d.timeArg(time.Now().Add(-age))
	var total int64
	for {
		r, err := c.w.ExecContext(ctx, `DELETE FROM hook_sequencers WHERE (bucket, key, processor) IN (
			SELECT h.bucket, h.key, h.processor FROM hook_sequencers h
			WHERE h.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket = h.bucket AND o.key = h.key)
			LIMIT `+strconv.Itoa(batch)+`)`, cutoff)
		if err != nil {
			return total, wrap(ctx, "prune tombstones", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return total, wrap(ctx, "prune tombstones", err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// deleteBucketObjects removes a bucket's object rows (their tags cascade)
// and recorded sequencers, as part of deleting the bucket.
func deleteBucketObjects(ctx context.Context, tx *sql.Tx, bucket string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM objects WHERE bucket = $1", bucket); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM hook_sequencers WHERE bucket = $1", bucket)
	return err
}

// querier reads: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// writeFunc runs fn in a write transaction and commits it. fn gets the
// context to run its statements with.
type writeFunc func(fn func(ctx context.Context, tx execer) error) error

// keyLockID is the 64-bit name of processor's lock on bucket/key: the
// first 8 bytes of a SHA-256 of the three, so every replica computes the
// same one.
func keyLockID(processor, bucket, key string) int64 {
	h := sha256.New()
	for _, s := range []string{processor, bucket, key} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// sqliteKeyLocks are the in-process stripes of the per-key lock on SQLite,
// shared by every Catalog in the process (so two handles on one file
// serialise too). A channel rather than a mutex, so waiting ends with ctx.
var sqliteKeyLocks = func() (s [256]chan struct{}) {
	for i := range s {
		s[i] = make(chan struct{}, 1)
	}
	return s
}()

// withKeyLock runs fn holding processor's lock on bucket/key (see
// SyncObject). fn reads through rd and writes through write, once.
func (c *Catalog) withKeyLock(ctx context.Context, processor, bucket, key string, fn func(rd querier, write writeFunc) error) error {
	id := keyLockID(processor, bucket, key)
	if c.d == postgresDialect {
		tx, err := c.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() // a no-op after Commit
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", id); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if err := fn(tx, func(w func(context.Context, execer) error) error { return w(ctx, tx) }); err != nil {
			return err
		}
		return tx.Commit()
	}
	stripe := sqliteKeyLocks[uint64(id)%uint64(len(sqliteKeyLocks))]
	select {
	case stripe <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-stripe }()
	return fn(cachedDB{c.readStmts}, func(w func(context.Context, execer) error) error { return c.group.Do(ctx, w) })
}

// ReadGrant is one place a caller may read: a bucket ("*" for every bucket)
// and a key prefix ("" for the whole bucket). policy.Grant converts to it.
type ReadGrant struct {
	Bucket string
	Prefix string
}

// ObjectFilter selects object rows. Every condition set must hold.
type ObjectFilter struct {
	// Readable is where the caller may read, and is required: nil is an
	// error (a forgotten restriction must not read as "everything"), an
	// empty list selects nothing. Use []ReadGrant{{Bucket: "*"}} for all.
	Readable []ReadGrant
	// Bucket limits to one bucket; "" is every bucket.
	Bucket string
	Prefix string
	// ContentType matches the declared or the sniffed media type, without
	// regard to case or parameters: "image/png" exactly, "image/*" any
	// image.
	ContentType string
	// MinSize and MaxSize bound the size, inclusive.
	MinSize *int64
	MaxSize *int64
	// ModifiedSince (inclusive) and ModifiedBefore (exclusive) bound the
	// backend's LastModified; zero times do not.
	ModifiedSince  time.Time
	ModifiedBefore time.Time
	// Tags must all be on the object with these values.
	Tags map[string]string
	// Limit is the page size: 100 when 0, at most 1000.
	Limit int
	// PageToken continues a listing where the page that returned it ended.
	PageToken string
}

// Page sizes of ListObjects.
const (
	DefaultObjectPage = 100
	MaxObjectPage     = 1000
)

// ListObjects returns one page of the rows f selects, in (bucket, key)
// byte order, and the token of the next page ("" after the last). A page
// is full whenever more rows follow. Every condition, the read grants
// included, is part of the query, so rows the caller may not read are
// never fetched.
func (c *Catalog) ListObjects(ctx context.Context, f ObjectFilter) ([]Object, string, error) {
	where, args, none, err := f.where(c.d)
	if err != nil {
		return nil, "", err
	}
	if none {
		return nil, "", nil
	}
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, "", fmt.Errorf("%w: negative limit", ErrInvalidFilter)
	case limit == 0:
		limit = DefaultObjectPage
	case limit > MaxObjectPage:
		limit = MaxObjectPage
	}
	if f.PageToken != "" {
		b, k, err := decodePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(bucket, key) > ("+arg(&args, b)+", "+arg(&args, k)+")")
	}
	q := "SELECT " + objectColumns + " FROM objects WHERE " + strings.Join(where, " AND ") +
		" ORDER BY bucket, key LIMIT " + strconv.Itoa(limit+1)
	rows, err := c.queryListing(ctx, q, args...)
	if err != nil {
		return nil, "", wrap(ctx, "list objects", err)
	}
	defer rows.Close()
	var objs []Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, "", wrap(ctx, "list objects", err)
		}
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap(ctx, "list objects", err)
	}
	if len(objs) <= limit {
		return objs, "", nil
	}
	objs = objs[:limit]
	last := objs[limit-1]
	return objs, encodePageToken(last.Bucket, last.Key), nil
}

// Usage counts object rows and their bytes.
type Usage struct {
	Bucket  string // "" for a total
	Objects int64
	Bytes   int64
}

// CountObjects counts the rows f selects (its Limit and PageToken aside).
func (c *Catalog) CountObjects(ctx context.Context, f ObjectFilter) (Usage, error) {
	where, args, none, err := f.where(c.d)
	if err != nil || none {
		return Usage{}, err
	}
	var u Usage
	rows, err := c.queryListing(ctx, "SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM objects WHERE "+
		strings.Join(where, " AND "), args...)
	if err == nil {
		defer rows.Close()
		if !rows.Next() {
			err = rows.Err()
			if err == nil {
				err = sql.ErrNoRows
			}
		} else {
			err = rows.Scan(&u.Objects, &u.Bytes)
		}
	}
	if err != nil {
		return Usage{}, wrap(ctx, "count objects", err)
	}
	return u, nil
}

// BucketUsage returns the rows and bytes of every bucket that has rows,
// sorted by bucket.
func (c *Catalog) BucketUsage(ctx context.Context) ([]Usage, error) {
	rows, err := c.queryListing(ctx,
		"SELECT bucket, count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM objects GROUP BY bucket ORDER BY bucket")
	if err != nil {
		return nil, wrap(ctx, "bucket usage", err)
	}
	defer rows.Close()
	var us []Usage
	for rows.Next() {
		var u Usage
		if err := rows.Scan(&u.Bucket, &u.Objects, &u.Bytes); err != nil {
			return nil, wrap(ctx, "bucket usage", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, "bucket usage", err)
	}
	return us, nil
}

// arg appends v to args and returns its placeholder.
func arg(args *[]any, v any) string {
	*args = append(*args, v)
	return "$" + strconv.Itoa(len(*args))
}

// prefixRange is the condition "col starts with p" as a byte-order range,
// which both databases answer from an index and which, unlike LIKE, has no
// metacharacters and folds no case (SQLite's LIKE ignores ASCII case).
func prefixRange(col, p string, args *[]any) string {
	cond := col + " >= " + arg(args, p)
	if end, ok := sqlstore.PrefixEnd(p); ok {
		cond += " AND " + col + " < " + arg(args, end)
	}
	return cond
}

// where renders f's conditions. none is true when f can select nothing
// (no grant reaches its bucket and prefix).
func (f ObjectFilter) where(d *dialect) (conds []string, args []any, none bool, err error) {
	if f.Readable == nil {
		return nil, nil, false, fmt.Errorf("%w: no read grants given (an empty list selects nothing)", ErrInvalidFilter)
	}
	texts := []string{f.Bucket, f.Prefix, f.ContentType}
	for _, g := range f.Readable {
		texts = append(texts, g.Bucket, g.Prefix)
	}
	for k, v := range f.Tags {
		texts = append(texts, k, v)
	}
	for _, s := range texts {
		if !storable(s) {
			return nil, nil, false, fmt.Errorf("%w: text is not UTF-8 or holds NUL", ErrInvalidFilter)
		}
	}

	// The grants that can reach rows the other conditions select.
	var grants []string
	all := false
	for _, g := range f.Readable {
		switch {
		case g.Bucket == "":
			return nil, nil, false, fmt.Errorf("%w: read grant without a bucket", ErrInvalidFilter)
		case g.Bucket != "*" && f.Bucket != "" && g.Bucket != f.Bucket:
			continue
		case strings.HasPrefix(f.Prefix, g.Prefix):
			g.Prefix = "" // the filter's own prefix is narrower
		case !strings.HasPrefix(g.Prefix, f.Prefix):
			continue // disjoint prefixes
		}
		var gc []string
		if g.Bucket != "*" {
			gc = append(gc, "bucket = "+arg(&args, g.Bucket))
		}
		if g.Prefix != "" {
			gc = append(gc, prefixRange("key", g.Prefix, &args))
		}
		if len(gc) == 0 {
			all = true
			break
		}
		grants = append(grants, "("+strings.Join(gc, " AND ")+")")
	}
	switch {
	case all:
		args = nil // the grants restrict nothing
	case len(grants) == 0:
		return nil, nil, true, nil
	default:
		conds = append(conds, "("+strings.Join(grants, " OR ")+")")
	}

	if f.Bucket != "" {
		conds = append(conds, "bucket = "+arg(&args, f.Bucket))
	}
	if f.Prefix != "" {
		conds = append(conds, prefixRange("key", f.Prefix, &args))
	}
	if ct := mediaType(f.ContentType); ct != "" && ct != "*" && ct != "*/*" {
		if typ, ok := strings.CutSuffix(ct, "/*"); ok {
			conds = append(conds, "(("+prefixRange("media_type", typ+"/", &args)+") OR ("+
				prefixRange("content_type_sniffed", typ+"/", &args)+"))")
		} else {
			p := arg(&args, ct)
			conds = append(conds, "(media_type = "+p+" OR content_type_sniffed = "+p+")")
		}
	}
	if f.MinSize != nil {
		conds = append(conds, "size >= "+arg(&args, *f.MinSize))
	}
	if f.MaxSize != nil {
		conds = append(conds, "size <= "+arg(&args, *f.MaxSize))
	}
	if !f.ModifiedSince.IsZero() {
		conds = append(conds, "modified_at >= "+arg(&args, d.timeArg(f.ModifiedSince)))
	}
	if !f.ModifiedBefore.IsZero() {
		conds = append(conds, "modified_at < "+arg(&args, d.timeArg(f.ModifiedBefore)))
	}
	// Sorted: the same filter makes the same query text.
	for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
		conds = append(conds, "EXISTS (SELECT 1 FROM object_tags t WHERE t.bucket = objects.bucket AND t.key = objects.key AND t.tag_key = "+
			arg(&args, k)+" AND t.tag_value = "+arg(&args, f.Tags[k])+")")
	}
	if len(conds) == 0 {
		conds = append(conds, "1 = 1")
	}
	return conds, args, false, nil
}

// encodePageToken names the position after bucket/key: the two, length
// prefixed, in URL-safe base64. It only says where to resume; the filter
// still decides what is visible.
func encodePageToken(bucket, key string) string {
	b := binary.AppendUvarint(nil, uint64(len(bucket)))
	b = append(b, bucket...)
	b = append(b, key...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(tok string) (bucket, key string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		n, used := binary.Uvarint(b)
		if used > 0 && n <= uint64(len(b)-used) {
			bucket, key = string(b[used:used+int(n)]), string(b[used+int(n):])
			if storable(bucket) && storable(key) {
				return bucket, key, nil
			}
		}
	}
	return "", "", fmt.Errorf("%w: bad page token", ErrInvalidFilter)
}
