package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/conflicts"

	"github.com/s3gate/s3gate/processors/search/index"
)

// source is the document as stored in Elasticsearch.
type source struct {
	ID          string            `json:"id"`
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Sequencer   string            `json:"sequencer"`
	Deleted     bool              `json:"deleted"`
	DeletedAt   string            `json:"deleted_at,omitempty"`
	Words       string            `json:"words,omitempty"`
	Ext         string            `json:"ext,omitempty"`
	Size        int64             `json:"size"`
	ContentType string            `json:"content_type,omitempty"`
	Modified    string            `json:"modified,omitempty"`
	Created     string            `json:"created,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Values      string            `json:"values,omitempty"`
	Image       *image            `json:"image,omitempty"`
	Text        string            `json:"text,omitempty"`
}

type image struct {
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Camera  string `json:"camera,omitempty"`
	TakenAt string `json:"taken_at,omitempty"`
}

// formatTime renders t for a date field: UTC, milliseconds (the
// resolution of the date type); "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}

func toSource(d index.Document) source {
	s := source{
		ID:          index.ID(d.Bucket, d.Key),
		Bucket:      d.Bucket,
		Key:         d.Key,
		Sequencer:   d.Sequencer,
		Words:       d.Words,
		Ext:         d.Ext,
		Size:        d.Size,
		ContentType: strings.ToLower(d.ContentType),
		Modified:    formatTime(d.Modified),
		Created:     formatTime(d.Created),
		Owner:       d.Owner,
		Metadata:    d.Metadata,
		Tags:        d.Tags,
		Text:        d.Text,
	}
	var values []string
	for _, m := range []map[string]string{d.Metadata, d.Tags} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if m[k] != "" {
				values = append(values, m[k])
			}
		}
	}
	if d.Image != nil && d.Image.Camera != "" {
		values = append(values, d.Image.Camera)
	}
	s.Values = strings.Join(values, "\n")
	if d.Image != nil {
		s.Image = &image{
			Width: d.Image.Width, Height: d.Image.Height,
			Camera: d.Image.Camera, TakenAt: formatTime(d.Image.TakenAt),
		}
	}
	return s
}

// upsertScript replaces the stored document with params.doc unless the
// stored one has a greater sequencer (sequencers compare as strings). With
// scripted_upsert it runs on an empty document when none is stored.
const upsertScript = "def cur = ctx._source.sequencer; " +
	"if (cur != null && cur.compareTo(params.doc.sequencer) > 0) { ctx.op = 'noop'; } " +
	"else { ctx._source.clear(); ctx._source.putAll(params.doc); }"

// updateBody is the body line of a bulk update.
type updateBody struct {
	ScriptedUpsert bool           `json:"scripted_upsert"`
	Script         updateScript   `json:"script"`
	Upsert         map[string]any `json:"upsert"`
}

type updateScript struct {
	Source string         `json:"source"`
	Lang   string         `json:"lang"`
	Params map[string]any `json:"params"`
}

// Put stores doc unless a document or tombstone with a greater sequencer
// is stored for its bucket and key. It returns once Elasticsearch has
// acknowledged the write.
func (ix *Index) Put(ctx context.Context, doc index.Document) error {
	if doc.Bucket == "" || doc.Key == "" {
		return errors.New("elastic: put: document without bucket or key")
	}
	return ix.upsert(ctx, "put", toSource(doc))
}

// Delete stores a tombstone for bucket/key as of seq: the document no
// longer matches any query, and a later Put of a smaller sequencer is
// ignored.
func (ix *Index) Delete(ctx context.Context, bucket, key, seq string) error {
	return ix.upsert(ctx, "delete", source{
		ID:        index.ID(bucket, key),
		Bucket:    bucket,
		Key:       key,
		Sequencer: seq,
		Deleted:   true,
		DeletedAt: formatTime(time.Now()),
	})
}

var errClosed = errors.New("index closed")

// Retries of a bulk item Elasticsearch pushed back (429) or failed (5xx);
// variables for tests.
var (
	itemAttempts = 5
	itemBackoff  = 100 * time.Millisecond
)

func (ix *Index) upsert(ctx context.Context, op string, s source) error {
	body, err := json.Marshal(updateBody{
		ScriptedUpsert: true,
		Script:         updateScript{Source: upsertScript, Lang: "painless", Params: map[string]any{"doc": s}},
		Upsert:         map[string]any{},
	})
	if err != nil {
		return fmt.Errorf("elastic: %s: %w", op, err)
	}
	for attempt := 1; ; attempt++ {
		status, err := ix.bulk(ctx, s.ID, body)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("elastic: %s: %w", op, ctx.Err())
		}
		if errors.Is(err, errClosed) {
			return fmt.Errorf("elastic: %s: %w", op, err)
		}
		if status != 0 && status != 429 && status < 500 {
			return fmt.Errorf("elastic: %s %s/%s: %w", op, s.Bucket, s.Key, err)
		}
		if attempt == itemAttempts {
			return fmt.Errorf("%w: elastic: %s %s/%s: %w", index.ErrUnavailable, op, s.Bucket, s.Key, err)
		}
		t := time.NewTimer(itemBackoff << (attempt - 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("elastic: %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// bulk adds one update to the bulk indexer, blocking while its queue is
// full, and waits for the item's result: its status, and an error if it
// failed (status 0: the whole bulk request failed).
func (ix *Index) bulk(ctx context.Context, id string, body []byte) (int, error) {
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	retry := 3
	item := esutil.BulkIndexerItem{
		Index:           ix.alias,
		Action:          "update",
		DocumentID:      id,
		RetryOnConflict: &retry,
		Body:            bytes.NewReader(body),
		OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
			done <- result{}
		},
		OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
			if err == nil {
				err = fmt.Errorf("%d %s: %s", res.Status, res.Error.Type, res.Error.Reason)
				if res.Error.Cause.Type != "" {
					err = fmt.Errorf("%w (caused by %s: %s)", err, res.Error.Cause.Type, res.Error.Cause.Reason)
				}
			}
			done <- result{status: res.Status, err: err}
		},
	}
	ix.mu.RLock()
	if ix.closed {
		ix.mu.RUnlock()
		return 0, errClosed
	}
	err := ix.bi.Add(ctx, item)
	ix.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	select {
	case r := <-done:
		return r.status, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// PruneTombstones deletes the tombstones of deletes older than age and
// returns how many went. A Put older than a pruned tombstone could bring
// its document back, so age must exceed the longest an event can be late.
func (ix *Index) PruneTombstones(ctx context.Context, age time.Duration) (int64, error) {
	before := formatTime(time.Now().Add(-age))
	res, err := ix.es.DeleteByQuery(ix.alias).
		Conflicts(conflicts.Proceed).
		Query(&types.Query{Bool: &types.BoolQuery{Filter: []types.Query{
			{Term: map[string]types.TermQuery{"deleted": {Value: true}}},
			{Range: map[string]types.RangeQuery{"deleted_at": types.DateRangeQuery{Lt: &before}}},
		}}}).
		Do(ctx)
	if err != nil {
		return 0, wrap(ctx, "prune tombstones", err)
	}
	if res.Deleted == nil {
		return 0, nil
	}
	return *res.Deleted, nil
}
