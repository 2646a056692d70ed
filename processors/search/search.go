// Package search is the hook that keeps one search document per object in
// an index (package index: the embedded SQLite FTS5 index, or
// Elasticsearch). For every event it reads the object's current state,
// as the metadata hook does, and puts or deletes its document under the
// event's sequencer, so that duplicates, late events and races all leave
// the index equal to the backend.
package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"mime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/image/render"
	"github.com/s3gate/s3gate/processors/search/index"
	"github.com/s3gate/s3gate/sniff"
)

// Name is the processor's name.
const Name = "search"

// Defaults of Options.
const (
	// DefaultMaxText bounds the bytes of a text-like object read for its
	// text; a longer object is indexed by its beginning.
	DefaultMaxText = 256 << 10
	// imageHead is how much of an image is read for its header and EXIF.
	imageHead = 128 << 10
)

// Options configure a Processor.
type Options struct {
	// Backend is the storage itself (not the gateway's view of it).
	Backend backends.Backend
	// Index receives the documents.
	Index index.Index
	// Catalog supplies the owner, creation time and the image hook's
	// findings when it has a row of the same version; nil skips it.
	Catalog *catalog.Catalog
	// Skip reports keys that get no document (image variants).
	Skip func(bucket, key string) bool
	// MaxText bounds the text read of one object; default DefaultMaxText.
	MaxText int64
	Logger  *slog.Logger
}

// Processor is the search hook. It is safe for concurrent use.
type Processor struct {
	opts  Options
	log   *slog.Logger
	locks [64]sync.Mutex
	seed  maphash.Seed
}

var _ processors.Processor = (*Processor)(nil)

// New returns the hook.
func New(opts Options) *Processor {
	if opts.MaxText <= 0 {
		opts.MaxText = DefaultMaxText
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Processor{opts: opts, log: log, seed: maphash.MakeSeed()}
}

// Name implements processors.Processor.
func (p *Processor) Name() string { return Name }

// Handle puts or deletes the document of the event's object.
func (p *Processor) Handle(ctx context.Context, rec events.Record) error {
	bucket, key, err := rec.Object()
	if err != nil {
		return processors.Permanent(fmt.Errorf("search: %w", err))
	}
	if !utf8.ValidString(key) {
		// No such object can exist (S3 keys are UTF-8), nor its document.
		return processors.Permanent(fmt.Errorf("search: event key %q is not UTF-8", rec.S3.Object.Key))
	}
	return p.sync(ctx, bucket, key, rec.S3.Object.Sequencer, sniffHint{rec.S3.Object.ETag, rec.S3gate.SniffedType})
}

// sniffHint is the media type the gateway sniffed from the bytes of the
// version with this ETag, as the event tells it: with it, the hook need not
// read a binary object to learn that it has no text.
type sniffHint struct{ etag, sniffed string }

// Sync indexes the current state of bucket/key under sequencer seq:
// puts its document, or deletes it when the object is gone.
func (p *Processor) Sync(ctx context.Context, bucket, key, seq string) error {
	return p.sync(ctx, bucket, key, seq, sniffHint{})
}

func (p *Processor) sync(ctx context.Context, bucket, key, seq string, hint sniffHint) error {
	if p.opts.Skip != nil && p.opts.Skip(bucket, key) {
		return nil
	}
	mu := &p.locks[maphash.String(p.seed, bucket+"\x00"+key)%uint64(len(p.locks))]
	mu.Lock()
	defer mu.Unlock()
	doc, err := p.document(ctx, bucket, key, seq, hint)
	switch {
	case errors.Is(err, errGone):
		err = p.opts.Index.Delete(ctx, bucket, key, seq)
	case err == nil:
		err = p.opts.Index.Put(ctx, doc)
	}
	if err != nil {
		return fmt.Errorf("search: %s/%q: %w", bucket, key, err)
	}
	return nil
}

// errGone: the object does not exist (any more).
var errGone = errors.New("object gone")

// maxReads bounds the re-reads when the object changes while it is read.
const maxReads = 3

// document builds the document of bucket/key's current version.
func (p *Processor) document(ctx context.Context, bucket, key, seq string, hint sniffHint) (index.Document, error) {
	for range maxReads {
		info, err := p.opts.Backend.HeadObject(ctx, bucket, key, backends.GetOptions{})
		if absent(err) {
			return index.Document{}, errGone
		}
		if err != nil {
			return index.Document{}, fmt.Errorf("head: %w", err)
		}
		doc := index.Document{
			Bucket: bucket, Key: key, Sequencer: seq,
			Words: strings.Join(index.KeyWords(key), " "), Ext: index.Ext(key),
			Size: info.Size, Modified: info.LastModified, Metadata: info.Metadata,
		}
		var row *catalog.Object
		if p.opts.Catalog != nil {
			r, err := p.opts.Catalog.GetObject(ctx, bucket, key)
			switch {
			case err == nil && r.ETag == info.ETag:
				row = &r
				doc.Owner, doc.Created = r.Owner, r.Created
			case err != nil && !errors.Is(err, catalog.ErrNoSuchObject):
				// Retried later, rather than a document without owner that
				// nothing would come back to complete.
				return index.Document{}, fmt.Errorf("catalogue: %w", err)
			}
		}
		if info.TagCount > 0 {
			if doc.Tags, err = p.opts.Backend.GetObjectTagging(ctx, bucket, key); absent(err) {
				return index.Document{}, errGone
			} else if err != nil {
				return index.Document{}, fmt.Errorf("get tagging: %w", err)
			}
		}
		changed, err := p.content(ctx, &doc, info, row, hint)
		if absent(err) {
			return index.Document{}, errGone
		}
		if err != nil {
			return index.Document{}, err
		}
		if !changed {
			return doc, nil
		}
	}
	return index.Document{}, fmt.Errorf("object changed on every one of %d reads", maxReads)
}

// content fills the document's type, text and image facts from the
// object's first bytes (read only when needed). changed reports that
// another version replaced the one described by info meanwhile.
func (p *Processor) content(ctx context.Context, doc *index.Document, info backends.ObjectInfo, row *catalog.Object, hint sniffHint) (bool, error) {
	declared, _, _ := mime.ParseMediaType(info.ContentType)
	sniffed := ""
	switch {
	case row != nil && row.SniffedContentType != "":
		sniffed = row.SniffedContentType
	case hint.sniffed != "" && hint.etag == info.ETag:
		sniffed = hint.sniffed
	}
	if info.Size == 0 {
		doc.ContentType = declared
		return false, nil
	}
	// What to read: a text object's text; an image's header and EXIF
	// unless the image hook has recorded them; when the type is not known
	// yet (no catalogue row of this version), as much as either needs.
	var want int64
	switch {
	case sniffed == "":
		want = max(p.opts.MaxText, imageHead)
	case textual(sniffed, declared):
		want = p.opts.MaxText
	case strings.HasPrefix(sniffed, "image/") && (row == nil || row.ImageWidth == nil):
		want = imageHead
	}
	var head []byte
	if want > 0 {
		obj, err := p.opts.Backend.GetObject(ctx, doc.Bucket, doc.Key, backends.GetOptions{
			Range:      &backends.Range{Start: 0, End: min(want, info.Size) - 1},
			Conditions: backends.Conditions{IfMatch: info.ETag},
		})
		if errors.Is(err, backends.ErrPreconditionFail) || errors.Is(err, backends.ErrInvalidRange) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		head, err = io.ReadAll(io.LimitReader(obj.Body, want))
		obj.Body.Close()
		if err != nil {
			return false, fmt.Errorf("read: %w", err)
		}
		if sniffed == "" {
			sniffed = sniff.Type(head)
		}
	}
	doc.ContentType = refine(sniffed, declared)
	switch {
	case textual(sniffed, declared):
		doc.Text = extractText(head[:min(int64(len(head)), p.opts.MaxText)], doc.ContentType)
	case strings.HasPrefix(sniffed, "image/"):
		doc.Image = imageFacts(row, head)
	}
	return false, nil
}

// refine is the document's type: the sniffed one, unless sniffing saw
// only "some text" and the declared type names which (text/csv,
// application/json, text/markdown), or only "some binary data" and the
// declared type says what it is.
func refine(sniffed, declared string) string {
	if sniffed == "" || sniffed == "application/octet-stream" ||
		(sniffed == "text/plain" && (strings.HasPrefix(declared, "text/") || declared == "application/json" || strings.HasSuffix(declared, "+json"))) {
		if declared != "" {
			return declared
		}
	}
	return sniffed
}

// textual reports whether an object of these types has text to index.
func textual(sniffed, declared string) bool {
	switch sniffed {
	case "text/plain", "text/html", "text/xml", "application/json":
		return true
	case "":
		return strings.HasPrefix(declared, "text/") || declared == "application/json"
	}
	return false
}

// imageFacts are the image's size, camera and time: the image hook's
// when it recorded them for this version, else read from the head.
func imageFacts(row *catalog.Object, head []byte) *index.Image {
	if row != nil && row.ImageWidth != nil && row.ImageHeight != nil {
		img := &index.Image{Width: *row.ImageWidth, Height: *row.ImageHeight}
		var exif struct {
			Make    string    `json:"make"`
			Model   string    `json:"model"`
			TakenAt time.Time `json:"taken_at"`
		}
		if json.Unmarshal(row.EXIF, &exif) == nil {
			img.Camera = strings.TrimSpace(exif.Make + " " + exif.Model)
			img.TakenAt = exif.TakenAt
		}
		return img
	}
	if head == nil {
		return nil
	}
	info, err := render.Probe(head, render.Options{})
	if err != nil {
		return nil
	}
	return &index.Image{Width: info.Width, Height: info.Height,
		Camera: strings.TrimSpace(info.Make + " " + info.Model), TakenAt: info.TakenAt}
}

// absent reports whether err means the object (or its bucket) is not
// there, or cannot be.
func absent(err error) bool {
	return errors.Is(err, backends.ErrNoSuchKey) || errors.Is(err, backends.ErrNoSuchBucket) ||
		errors.Is(err, backends.ErrInvalidKey) || errors.Is(err, backends.ErrKeyTooLong) ||
		errors.Is(err, backends.ErrInvalidBucket)
}
