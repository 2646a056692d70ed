// Package metadata is the processor that keeps the catalogue's object rows
// (catalog.Object) in step with the backend: for every event it reads the
// object's current state (HEAD, tags, the first bytes for the content type)
// and lets catalog.SyncObject write it, under the key's lock. It never
// trusts the event's own description of the object, so events delivered
// twice, late or out of order all leave the row equal to the backend.
package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/sniff"
)

// Name is the processor's name, and its key in the catalogue's recorded
// sequencers.
const Name = "metadata"

// maxLoadAttempts bounds the re-reads when the object changes between the
// HEAD and the read of its first bytes.
const maxLoadAttempts = 3

// Options tune a Processor.
type Options struct {
	// Logger receives a debug line per row changed; nil discards.
	Logger *slog.Logger
}

// Processor is the metadata processor. It is safe for concurrent use.
type Processor struct {
	backend backends.Backend
	cat     *catalog.Catalog
	log     *slog.Logger
}

var _ processors.Processor = (*Processor)(nil)

// New returns the processor that syncs backend's objects into cat.
func New(backend backends.Backend, cat *catalog.Catalog, opts Options) *Processor {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Processor{backend: backend, cat: cat, log: log}
}

// Name implements processors.Processor.
func (p *Processor) Name() string { return Name }

// Handle syncs the row of the event's object. Every kind of event is
// handled alike, since only the object's current state is written; the
// event decides only the owner (see owner). An event without a bucket or
// key, or with a key that does not decode or cannot be stored, is a
// permanent error; an unreachable backend or database a temporary one.
func (p *Processor) Handle(ctx context.Context, rec events.Record) error {
	bucket, key, err := rec.Object()
	if err != nil {
		return processors.Permanent(fmt.Errorf("metadata: %w", err))
	}
	seq := rec.S3.Object.Sequencer
	res, err := p.cat.SyncObject(ctx, Name, bucket, key, seq, func(ctx context.Context, current *catalog.Object) (*catalog.Object, error) {
		obj, err := p.load(ctx, bucket, key, knownType(rec, current))
		if obj != nil {
			obj.Owner, obj.OwnerSequencer = owner(rec, obj, current)
		}
		return obj, err
	})
	switch {
	case errors.Is(err, catalog.ErrInvalidObjectKey):
		return processors.Permanent(fmt.Errorf("metadata: %s/%q: %w", bucket, key, err))
	case err != nil:
		return fmt.Errorf("metadata: %s/%q: %w", bucket, key, err)
	}
	if res.Changed {
		etag := ""
		if res.Object != nil {
			etag = res.Object.ETag
		}
		p.log.DebugContext(ctx, "object row synced", "bucket", bucket, "key", key, "event", rec.EventName,
			"sequencer", seq, "exists", res.Object != nil, "etag", etag, "stale", res.Stale)
	}
	return nil
}

// knownType returns the sniffed media type already known for a version's
// ETag, which spares a read of its first bytes: the one the gateway saw as
// the event's bytes passed through it, or the row's (an equal ETag is equal
// bytes); "" when neither describes that version.
func knownType(rec events.Record, current *catalog.Object) func(etag string) string {
	return func(etag string) string {
		switch {
		case etag == "":
			return ""
		case rec.S3.Object.ETag == etag && rec.S3gate.SniffedType != "":
			return rec.S3gate.SniffedType
		case current != nil && current.ETag == etag:
			return current.SniffedContentType
		}
		return ""
	}
}

// owner decides who wrote the loaded version, and the sequencer of the
// event that said so. An ObjectCreated event names its principal as the
// writer of the version with its ETag; the claim stands unless a newer
// event's claim on the same version is recorded. Any other event, or a
// created event for a version since replaced, keeps the row's owner; kept
// over a change of version, it is only a guess until the new version's
// own event arrives, so it keeps no sequencer to defend it.
func owner(rec events.Record, loaded, current *catalog.Object) (string, string) {
	keep, keepSeq := "", ""
	if current != nil {
		keep, keepSeq = current.Owner, current.OwnerSequencer
		if current.ETag != loaded.ETag || current.Size != loaded.Size ||
			!current.Modified.Equal(loaded.Modified.Truncate(time.Microsecond)) {
			keepSeq = ""
		}
	}
	principal, seq := rec.UserIdentity.PrincipalID, rec.S3.Object.Sequencer
	switch {
	case !strings.HasPrefix(rec.EventName, "ObjectCreated:") || principal == "":
		return keep, keepSeq
	case rec.S3.Object.ETag != "" && strings.Trim(rec.S3.Object.ETag, `"`) != loaded.ETag:
		return keep, keepSeq // the event's version is not the one there now
	case keepSeq != "" && seq < keepSeq:
		return keep, keepSeq // a newer write's claim stands
	}
	return principal, seq
}

// absent reports whether err means the object is not there, or cannot be
// (a key or bucket the backend refuses to name).
func absent(err error) bool {
	return errors.Is(err, backends.ErrNoSuchKey) || errors.Is(err, backends.ErrNoSuchBucket) ||
		errors.Is(err, backends.ErrInvalidKey) || errors.Is(err, backends.ErrKeyTooLong) ||
		errors.Is(err, backends.ErrInvalidBucket)
}

// load reads the object's current state: nil when it does not exist. The
// description comes from the same read as the sniffed bytes, so the two
// agree; the tags come from a read of their own, and should they be a
// later version's, that version's own event syncs the row again.
func (p *Processor) load(ctx context.Context, bucket, key string, known func(etag string) string) (*catalog.Object, error) {
	for range maxLoadAttempts {
		info, err := p.backend.HeadObject(ctx, bucket, key, backends.GetOptions{})
		if absent(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("head: %w", err)
		}
		sniffed := ""
		if info.Size > 0 {
			sniffed = known(info.ETag)
		}
		if info.Size > 0 && sniffed == "" {
			var changed bool
			info, sniffed, changed, err = p.sniff(ctx, bucket, key, info.ETag)
			if absent(err) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			if changed {
				continue // overwritten since the HEAD: read it again
			}
		}
		var tags map[string]string
		if info.TagCount > 0 {
			tags, err = p.backend.GetObjectTagging(ctx, bucket, key)
			if absent(err) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("get tagging: %w", err)
			}
		}
		return &catalog.Object{
			Size: info.Size, ETag: info.ETag,
			ChecksumAlgorithm: info.Checksum.Algorithm, ChecksumValue: info.Checksum.Value, ChecksumType: info.Checksum.Type,
			ContentType: info.ContentType, SniffedContentType: sniffed,
			Modified: info.LastModified, Metadata: info.Metadata, Tags: tags,
		}, nil
	}
	return nil, fmt.Errorf("object changed on every one of %d reads", maxLoadAttempts)
}

// sniff reads the first bytes of the version etag names and returns its
// description with the media type they suggest. changed reports that the
// key holds another version now.
func (p *Processor) sniff(ctx context.Context, bucket, key, etag string) (backends.ObjectInfo, string, bool, error) {
	obj, err := p.backend.GetObject(ctx, bucket, key, backends.GetOptions{
		Range:      &backends.Range{Start: 0, End: sniff.Len - 1},
		Conditions: backends.Conditions{IfMatch: etag},
	})
	if errors.Is(err, backends.ErrPreconditionFail) || errors.Is(err, backends.ErrInvalidRange) {
		return backends.ObjectInfo{}, "", true, nil
	}
	if err != nil {
		return backends.ObjectInfo{}, "", false, fmt.Errorf("get first bytes: %w", err)
	}
	defer obj.Body.Close()
	head, err := io.ReadAll(io.LimitReader(obj.Body, sniff.Len))
	if err != nil {
		return backends.ObjectInfo{}, "", false, fmt.Errorf("read first bytes: %w", err)
	}
	return obj.Info, sniff.Type(head), false, nil
}
