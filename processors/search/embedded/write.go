package embedded

import (
	"context"
	"database/sql"
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
	"github.com/s3gate/s3gate/processors/search/index"
)

// The writes, prepared once on the writer connection.
const (
	selectState = "SELECT n, sequencer FROM docs WHERE id = ?"
	insertDoc   = `INSERT INTO docs (id, bucket, key, sequencer, deleted, updated, size, content_type, modified, created, owner, ext, image, metadata, tags)
		VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING n`
	updateDoc = `UPDATE docs SET sequencer = ?, deleted = 0, updated = ?, size = ?, content_type = ?, modified = ?, created = ?,
		owner = ?, ext = ?, image = ?, metadata = ?, tags = ? WHERE n = ?`
	insertTombstone = "INSERT INTO docs (id, bucket, key, sequencer, deleted, updated) VALUES (?, ?, ?, ?, 1, ?)"
	updateTombstone = `UPDATE docs SET sequencer = ?, deleted = 1, updated = ?, size = 0, content_type = '', modified = NULL, created = NULL,
		owner = '', ext = '', image = NULL, metadata = NULL, tags = NULL WHERE n = ?`
	deleteText = "DELETE FROM fts WHERE rowid = ?"
	insertText = "INSERT INTO fts (rowid, words, text, meta, tags) VALUES (?, ?, ?, ?, ?)"
	deleteTags = "DELETE FROM doc_tags WHERE n = ?"
	insertTag  = "INSERT INTO doc_tags (n, k, v) VALUES (?, ?, ?)"
)

var writeQueries = []string{selectState, insertDoc, updateDoc, insertTombstone, updateTombstone, deleteText, insertText, deleteTags, insertTag}

// Put stores doc, unless a document or delete with a greater sequencer
// has been applied to its bucket and key (an equal one replaces it). A
// document without Words gets the key's (index.KeyWords).
func (ix *Index) Put(ctx context.Context, doc index.Document) error {
	if err := checkKey(doc.Bucket, doc.Key); err != nil {
		return err
	}
	words := doc.Words
	if words == "" {
		words = strings.Join(index.KeyWords(doc.Key), " ")
	}
	var metaText, tagText []string
	for _, k := range slices.Sorted(maps.Keys(doc.Metadata)) {
		metaText = append(metaText, doc.Metadata[k])
	}
	if doc.Image != nil && doc.Image.Camera != "" {
		metaText = append(metaText, doc.Image.Camera)
	}
	for _, k := range slices.Sorted(maps.Keys(doc.Tags)) {
		tagText = append(tagText, doc.Tags[k])
	}
	metadata, err := jsonOrNil(doc.Metadata, len(doc.Metadata) > 0)
	if err != nil {
		return err
	}
	tags, err := jsonOrNil(doc.Tags, len(doc.Tags) > 0)
	if err != nil {
		return err
	}
	image, err := jsonOrNil(doc.Image, doc.Image != nil)
	if err != nil {
		return err
	}
	id := index.ID(doc.Bucket, doc.Key)
	now := time.Now().UnixMilli()
	fields := []any{doc.Size, mediaType(doc.ContentType), timeArg(doc.Modified), timeArg(doc.Created),
		doc.Owner, doc.Ext, image, metadata, tags}

	return ix.write(ctx, "put", func(ctx context.Context, tx execer) error {
		n, seq, err := state(ctx, tx, id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			args := append([]any{id, doc.Bucket, doc.Key, doc.Sequencer, now}, fields...)
			if err := tx.QueryRowContext(ctx, insertDoc, args...).Scan(&n); err != nil {
				return err
			}
		case err != nil:
			return err
		case seq > doc.Sequencer:
			return nil // stale
		default:
			args := append(append([]any{doc.Sequencer, now}, fields...), n)
			if _, err := tx.ExecContext(ctx, updateDoc, args...); err != nil {
				return err
			}
			if err := clearDoc(ctx, tx, n); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, insertText, n, plain(words), plain(doc.Text),
			plain(strings.Join(metaText, "\n")), plain(strings.Join(tagText, "\n"))); err != nil {
			return err
		}
		for k, v := range doc.Tags {
			if _, err := tx.ExecContext(ctx, insertTag, n, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes the document of bucket/key as of seq, leaving a
// tombstone with seq (also when there was no document), unless a greater
// sequencer has been applied.
func (ix *Index) Delete(ctx context.Context, bucket, key, seq string) error {
	if err := checkKey(bucket, key); err != nil {
		return err
	}
	id := index.ID(bucket, key)
	now := time.Now().UnixMilli()
	return ix.write(ctx, "delete", func(ctx context.Context, tx execer) error {
		n, old, err := state(ctx, tx, id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, insertTombstone, id, bucket, key, seq, now)
			return err
		case err != nil:
			return err
		case old > seq:
			return nil // stale
		}
		if _, err := tx.ExecContext(ctx, updateTombstone, seq, now, n); err != nil {
			return err
		}
		return clearDoc(ctx, tx, n)
	})
}

// PruneTombstones removes the tombstones of deletes applied more than age
// ago and returns how many went. After that, a Put older than such a
// delete would be stored again, so age must exceed the longest time an
// event can be late (the hooks' retries); an hour's call with a day's age
// is plenty. It deletes in small batches, never holding the writer long.
func (ix *Index) PruneTombstones(ctx context.Context, age time.Duration) (int64, error) {
	const batch = 1000
	cutoff := time.Now().Add(-age).UnixMilli()
	var total int64
	for {
		var n int64
		err := ix.write(ctx, "prune tombstones", func(ctx context.Context, tx execer) error {
			r, err := tx.ExecContext(ctx, "DELETE FROM docs WHERE n IN (SELECT n FROM docs WHERE deleted = 1 AND updated < ? LIMIT "+
				strconv.Itoa(batch)+")", cutoff)
			if err == nil {
				n, err = r.RowsAffected()
			}
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

// write runs fn in the writer's group commit.
func (ix *Index) write(ctx context.Context, op string, fn func(ctx context.Context, tx execer) error) error {
	if ix.closed.Load() {
		return errClosed
	}
	if err := ix.group.Do(ctx, fn); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

// state reads the row number and sequencer of a document or tombstone.
func state(ctx context.Context, tx execer, id string) (n int64, seq string, err error) {
	err = tx.QueryRowContext(ctx, selectState, id).Scan(&n, &seq)
	return n, seq, err
}

// clearDoc removes row n's text and tags.
func clearDoc(ctx context.Context, tx execer, n int64) error {
	if _, err := tx.ExecContext(ctx, deleteText, n); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, deleteTags, n)
	return err
}

func checkKey(bucket, key string) error {
	if bucket == "" || key == "" {
		return errors.New("search index: document without bucket or key")
	}
	if !utf8.ValidString(bucket) || !utf8.ValidString(key) {
		return errors.New("search index: bucket or key is not UTF-8")
	}
	return nil
}

func jsonOrNil(v any, set bool) (any, error) {
	if !set {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	return string(b), nil
}

// timeArg stores a time as Unix microseconds, the zero time as NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// plain takes the highlight markers out of indexed text (see snippet).
func plain(s string) string {
	if strings.ContainsAny(s, markOpen+markClose) {
		s = strings.NewReplacer(markOpen, " ", markClose, " ").Replace(s)
	}
	return s
}

// mediaType is a content type without parameters, lower case.
func mediaType(s string) string {
	s, _, _ = strings.Cut(s, ";")
	return strings.ToLower(strings.TrimSpace(s))
}

// execer is what writes go through: a transaction with cached statements.
type execer = sqlstore.Execer
