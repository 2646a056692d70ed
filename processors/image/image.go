// Package image is the processor that makes image variants (thumbnails,
// previews) of uploaded images, stores them through the backend next to
// the original, records the image's facts in its catalogue row, and serves
// the variants to the gateway (GET ?variant=NAME), making a missing one on
// demand.
//
// Variants live at deterministic keys (see Location): a reserved prefix in
// the original's bucket, which the gateway hides from clients
// (backends/reserved), or a bucket of their own. Each stored variant names
// the original's ETag and the preset's spec in its metadata, so a variant
// of an older version, or of a preset since changed, is known to be stale
// wherever it is read. The processor always works from the object's
// current state, as the metadata processor does: an event delivered twice,
// late or out of order makes or removes exactly the variants the object
// now needs.
package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/image/render"
	"github.com/s3gate/s3gate/sniff"
)

// Name is the processor's name: its consumer group, metrics label and key
// in the catalogue's recorded sequencers.
const Name = "image"

// User metadata of a stored variant.
const (
	metaSource = "s3gate-source-etag" // the original's ETag
	metaSpec   = "s3gate-preset"      // the preset's spec (Preset.spec)
)

// Errors of serving variants (Open, Head); the gateway maps them to S3
// errors.
var (
	// ErrUnknownPreset: no preset of that name applies to the bucket.
	ErrUnknownPreset = errors.New("image: no variant preset of that name for this bucket")
	// ErrNotMade: the variant has not been made yet and on-demand
	// rendering is off.
	ErrNotMade = errors.New("image: variant not made yet")
	// ErrNotImage: the object is not an image the preset is made from
	// (its type does not match, or it does not decode).
	ErrNotImage = errors.New("image: object is not an image this variant is made from")
)

// errChanged: the object changed while it was read; the newer version's
// own event (or the next request) makes its variants.
var errChanged = errors.New("image: object changed while it was read")

// Options configure a Processor.
type Options struct {
	// Backend stores originals and variants. It must be the backend
	// itself, not the gateway's view of it that hides the reserved prefix.
	Backend backends.Backend
	// Catalog receives each original's image facts and variant list;
	// nil records nothing (the metadata hook is off).
	Catalog *catalog.Catalog
	// Presets are the variants to make; nil means DefaultPresets.
	Presets []Preset
	// Location says where variants are stored.
	Location Location
	// Limits bound the original's bytes and pixels.
	Limits render.Limits
	// Timeout bounds one image's rendering; default 60 s.
	Timeout time.Duration
	// GPS records the EXIF position in the catalogue.
	GPS bool
	// CacheControl is stored with every variant and sent when it is
	// served.
	CacheControl string
	// OnDemand makes a missing or stale variant when it is asked for;
	// otherwise such a request gets ErrNotMade.
	OnDemand bool
	// RowWait is how long an event waits for the metadata hook to write
	// the original's catalogue row before it is retried; default 10 s,
	// well inside the queue's claim timeout.
	RowWait time.Duration
	// MaxRenders bounds renders at once, from events and requests
	// together; default GOMAXPROCS.
	MaxRenders int
	// Logger receives a line per image rendered; nil discards.
	Logger *slog.Logger
	// Registerer receives the processor's metrics; nil keeps them private.
	Registerer prometheus.Registerer
}

// Processor is the image processor. It is safe for concurrent use.
type Processor struct {
	opts    Options
	backend backends.Backend
	cat     *catalog.Catalog
	loc     Location
	log     *slog.Logger
	renders chan struct{}
	// flights joins concurrent on-demand requests for one object.
	flights singleflight.Group
	// locks serialize the work on one key in this process, so a slow
	// render of an old version never lands after a newer one's.
	locks [64]sync.Mutex
	seed  maphash.Seed
	m     metrics
}

var _ processors.Processor = (*Processor)(nil)

// New checks the options and returns the processor.
func New(opts Options) (*Processor, error) {
	if opts.Backend == nil {
		return nil, errors.New("image: no backend")
	}
	if opts.Presets == nil {
		opts.Presets = DefaultPresets()
	}
	if err := ValidatePresets(opts.Presets); err != nil {
		return nil, err
	}
	if err := opts.Location.validate(); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.RowWait <= 0 {
		opts.RowWait = 10 * time.Second
	}
	if opts.MaxRenders <= 0 {
		opts.MaxRenders = runtime.GOMAXPROCS(0)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Processor{
		opts: opts, backend: opts.Backend, cat: opts.Catalog, loc: opts.Location, log: log,
		renders: make(chan struct{}, opts.MaxRenders), seed: maphash.MakeSeed(), m: newMetrics(reg),
	}, nil
}

// Name implements processors.Processor.
func (p *Processor) Name() string { return Name }

// Skip reports keys that are variants themselves, which get no variants
// and no events (backfill skips them).
func (p *Processor) Skip(bucket, key string) bool { return p.loc.holds(bucket, key) }

// Handle makes, replaces or removes the variants of the event's object so
// that they match its current version, and records what it found in the
// catalogue row. Tagging events change nothing an image depends on. An
// image that cannot be rendered (corrupt, too large, unsupported) is a
// permanent error, recorded in the row's hook_error; an unreachable
// backend or database is a temporary one.
func (p *Processor) Handle(ctx context.Context, rec events.Record) error {
	if strings.HasPrefix(rec.EventName, "ObjectTagging:") && rec.S3.Bucket.Name != "" && rec.S3.Object.Key != "" {
		return nil // tags change nothing an image depends on
	}
	bucket, key, err := rec.Object()
	if err != nil {
		return processors.Permanent(fmt.Errorf("image: %w", err))
	}
	if p.Skip(bucket, key) {
		return nil
	}
	known := func(etag string) string {
		if etag != "" && strings.Trim(rec.S3.Object.ETag, `"`) == etag {
			return rec.S3gate.SniffedType
		}
		return ""
	}
	err = p.sync(ctx, bucket, key, rec.S3.Object.Sequencer, known, true)
	if err != nil && !processors.IsPermanent(err) {
		return fmt.Errorf("image: %s/%q: %w", bucket, key, err)
	}
	return err
}

// sync brings the variants of bucket/key in line with the object's current
// version under the key's lock. seq is the event's sequencer ("" for a
// request); known returns the sniffed type of a version already known;
// waitRow says whether to wait for the metadata hook's row.
func (p *Processor) sync(ctx context.Context, bucket, key, seq string, known func(etag string) string, waitRow bool) error {
	mu := &p.locks[maphash.String(p.seed, bucket+"\x00"+key)%uint64(len(p.locks))]
	mu.Lock()
	defer mu.Unlock()

	info, err := p.backend.HeadObject(ctx, bucket, key, backends.GetOptions{})
	if absent(err) {
		return p.removeAll(ctx, bucket, key, nil)
	}
	if err != nil {
		return fmt.Errorf("head: %w", err)
	}
	mt := ""
	if known != nil {
		mt = known(info.ETag)
	}
	if mt == "" && info.Size > 0 {
		if mt, err = p.sniff(ctx, bucket, key, info.ETag); errors.Is(err, errChanged) {
			return nil
		} else if err != nil {
			return err
		}
	}
	presets := p.presetsFor(bucket, mt)
	if len(presets) == 0 {
		// Not an image (any more): variants of an earlier version go.
		return p.removeAll(ctx, bucket, key, nil)
	}
	if _, _, err := p.loc.dir(bucket, key); err != nil {
		msg := err.Error()
		return p.record(ctx, bucket, key, seq, info.ETag, catalog.HookFields{HookError: &msg}, waitRow)
	}
	ok, err := p.current(ctx, bucket, key, info.ETag, presets)
	if err != nil {
		return err
	}
	if ok && p.recorded(ctx, bucket, key, info.ETag, presets) {
		return p.removeAll(ctx, bucket, key, presets)
	}

	start := time.Now()
	rinfo, made, err := p.render(ctx, bucket, key, info, presets)
	switch {
	case errors.Is(err, errChanged):
		return nil
	case processors.IsPermanent(err):
		p.m.renders.WithLabelValues("failed").Inc()
		p.log.InfoContext(ctx, "image not rendered", "bucket", bucket, "key", key, "etag", info.ETag, "err", err)
		if rerr := p.removeAll(ctx, bucket, key, nil); rerr != nil {
			return rerr
		}
		msg := "image: " + err.Error()
		f := catalog.HookFields{HookError: &msg, Variants: json.RawMessage{}}
		if rinfo.Width > 0 {
			f.ImageWidth, f.ImageHeight = &rinfo.Width, &rinfo.Height
		}
		if rerr := p.record(ctx, bucket, key, seq, info.ETag, f, waitRow); rerr != nil {
			return rerr
		}
		return err
	case err != nil:
		return err
	}
	p.m.renders.WithLabelValues("made").Inc()
	p.m.seconds.Observe(time.Since(start).Seconds())

	list := make([]storedVariant, 0, len(made))
	for i, v := range made {
		sv, err := p.store(ctx, bucket, key, info.ETag, presets[i], v)
		if err != nil {
			return err
		}
		list = append(list, sv)
	}
	if err := p.removeAll(ctx, bucket, key, presets); err != nil {
		return err
	}
	p.log.DebugContext(ctx, "image variants made", "bucket", bucket, "key", key, "etag", info.ETag,
		"variants", len(list), "seconds", time.Since(start).Seconds())
	variants, err := json.Marshal(list)
	if err != nil {
		return err
	}
	none := ""
	return p.record(ctx, bucket, key, seq, info.ETag, catalog.HookFields{
		ImageWidth: &rinfo.Width, ImageHeight: &rinfo.Height,
		EXIF: exifJSON(rinfo), Variants: variants, HookError: &none,
	}, waitRow)
}

// presetsFor returns the presets that apply to an original of mediaType
// in bucket, in their configured order.
func (p *Processor) presetsFor(bucket, mediaType string) []Preset {
	if mediaType == "" {
		return nil
	}
	var out []Preset
	for _, ps := range p.opts.Presets {
		if ps.forBucket(bucket) && ps.forType(mediaType) {
			out = append(out, ps)
		}
	}
	return out
}

// preset returns the preset named name for bucket.
func (p *Processor) preset(bucket, name string) (Preset, bool) {
	for _, ps := range p.opts.Presets {
		if ps.Name == name && ps.forBucket(bucket) {
			return ps, true
		}
	}
	return Preset{}, false
}

// HasPreset reports whether name is a variant preset of bucket.
func (p *Processor) HasPreset(bucket, name string) bool {
	_, ok := p.preset(bucket, name)
	return ok
}

// sniff reads the first bytes of the version etag names and returns the
// media type they suggest.
func (p *Processor) sniff(ctx context.Context, bucket, key, etag string) (string, error) {
	obj, err := p.backend.GetObject(ctx, bucket, key, backends.GetOptions{
		Range:      &backends.Range{Start: 0, End: sniff.Len - 1},
		Conditions: backends.Conditions{IfMatch: etag},
	})
	if absent(err) || errors.Is(err, backends.ErrPreconditionFail) || errors.Is(err, backends.ErrInvalidRange) {
		return "", errChanged
	}
	if err != nil {
		return "", fmt.Errorf("get first bytes: %w", err)
	}
	defer obj.Body.Close()
	head, err := io.ReadAll(io.LimitReader(obj.Body, sniff.Len))
	if err != nil {
		return "", fmt.Errorf("read first bytes: %w", err)
	}
	return sniff.Type(head), nil
}

// render reads the version info describes and renders presets from it.
// Errors in the image itself, and a render that outlives the time limit,
// are permanent.
func (p *Processor) render(ctx context.Context, bucket, key string, info backends.ObjectInfo, presets []Preset) (render.Info, []render.Variant, error) {
	lim := p.opts.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = render.DefaultMaxBytes
	}
	if info.Size > lim.MaxBytes {
		return render.Info{}, nil, processors.Permanent(fmt.Errorf("%w: %d bytes is more than %d", render.ErrTooLarge, info.Size, lim.MaxBytes))
	}
	select {
	case p.renders <- struct{}{}:
		defer func() { <-p.renders }()
	case <-ctx.Done():
		return render.Info{}, nil, ctx.Err()
	}
	rctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	obj, err := p.backend.GetObject(rctx, bucket, key, backends.GetOptions{Conditions: backends.Conditions{IfMatch: info.ETag}})
	if absent(err) || errors.Is(err, backends.ErrPreconditionFail) {
		return render.Info{}, nil, errChanged
	}
	if err != nil {
		return render.Info{}, nil, fmt.Errorf("get: %w", err)
	}
	defer obj.Body.Close()
	rp := make([]render.Preset, len(presets))
	for i, ps := range presets {
		rp[i] = ps.Preset
	}
	rinfo, made, err := render.Render(rctx, obj.Body, rp, lim, render.Options{GPS: p.opts.GPS})
	switch {
	case err == nil:
		return rinfo, made, nil
	case errors.Is(err, render.ErrTooLarge), errors.Is(err, render.ErrCorrupt), errors.Is(err, render.ErrUnsupported):
		return rinfo, nil, processors.Permanent(err)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return rinfo, nil, processors.Permanent(fmt.Errorf("image: rendering took longer than %s", p.opts.Timeout))
	}
	return rinfo, nil, err
}

// storedVariant is a variant as the catalogue row lists it.
type storedVariant struct {
	Name        string `json:"name"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	ETag        string `json:"etag"`
}

// store writes one rendered variant at its key.
func (p *Processor) store(ctx context.Context, bucket, key, etag string, ps Preset, v render.Variant) (storedVariant, error) {
	vb, vk, err := p.loc.variant(bucket, key, ps)
	if err != nil {
		return storedVariant{}, processors.Permanent(err)
	}
	info, err := p.backend.PutObject(ctx, vb, vk, bytes.NewReader(v.Data), backends.PutOptions{
		Size:           int64(len(v.Data)),
		ContentHeaders: backends.ContentHeaders{ContentType: v.ContentType, CacheControl: p.opts.CacheControl},
		Metadata:       map[string]string{metaSource: etag, metaSpec: ps.spec()},
	})
	if err != nil {
		return storedVariant{}, fmt.Errorf("store variant %s: %w", ps.Name, err)
	}
	p.m.variants.Inc()
	return storedVariant{Name: ps.Name, Bucket: vb, Key: vk, Width: v.Width, Height: v.Height,
		ContentType: v.ContentType, Size: info.Size, ETag: info.ETag}, nil
}

// stored lists the variants stored for bucket/key, by the last segment of
// their keys (NAME.EXT).
func (p *Processor) stored(ctx context.Context, bucket, key string) (map[string]backends.ObjectInfo, error) {
	vb, dir, err := p.loc.dir(bucket, key)
	if err != nil {
		return nil, nil // a key too long to have variants has none
	}
	out := map[string]backends.ObjectInfo{}
	after := ""
	for {
		page, err := p.backend.ListObjects(ctx, vb, backends.ListOptions{Prefix: dir, Delimiter: "/", StartAfter: after, MaxKeys: 1000})
		if absent(err) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list variants: %w", err)
		}
		for _, o := range page.Objects {
			if last := strings.TrimPrefix(o.Key, dir); isVariantName(last) {
				out[last] = o
			}
		}
		if !page.IsTruncated {
			return out, nil
		}
		after = page.NextStartAfter
	}
}

// current reports whether every preset has a stored variant of the
// version etag made by the preset's present spec. Listings carry no
// metadata, so each variant is looked at.
func (p *Processor) current(ctx context.Context, bucket, key, etag string, presets []Preset) (bool, error) {
	for _, ps := range presets {
		vb, vk, err := p.loc.variant(bucket, key, ps)
		if err != nil {
			return false, nil
		}
		info, err := p.backend.HeadObject(ctx, vb, vk, backends.GetOptions{})
		if absent(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("head variant %s: %w", ps.Name, err)
		}
		if !fresh(info, etag, ps) {
			return false, nil
		}
	}
	return true, nil
}

// fresh reports whether a stored variant was made from the version etag
// by the preset's present spec.
func fresh(info backends.ObjectInfo, etag string, ps Preset) bool {
	return info.Metadata[metaSource] == etag && info.Metadata[metaSpec] == ps.spec()
}

// removeAll deletes the stored variants of bucket/key, except those of
// keep's presets.
func (p *Processor) removeAll(ctx context.Context, bucket, key string, keep []Preset) error {
	stored, err := p.stored(ctx, bucket, key)
	if err != nil {
		return err
	}
	for last, o := range stored {
		if slices.ContainsFunc(keep, func(ps Preset) bool { return ps.Name+ps.ext() == last }) {
			continue
		}
		vb, _, _ := p.loc.dir(bucket, key)
		if err := p.backend.DeleteObject(ctx, vb, o.Key, backends.DeleteOptions{}); err != nil && !absent(err) {
			return fmt.Errorf("delete variant %s: %w", last, err)
		}
		p.m.removed.Inc()
	}
	return nil
}

// recorded reports whether the catalogue row of bucket/key describes the
// version etag with exactly presets' variants. Without a catalogue there
// is nothing to record.
func (p *Processor) recorded(ctx context.Context, bucket, key, etag string, presets []Preset) bool {
	if p.cat == nil {
		return true
	}
	row, err := p.cat.GetObject(ctx, bucket, key)
	if err != nil || row.ETag != etag || len(row.Variants) == 0 {
		return false
	}
	var list []storedVariant
	if json.Unmarshal(row.Variants, &list) != nil || len(list) != len(presets) {
		return false
	}
	for i, v := range list {
		if v.Name != presets[i].Name {
			return false
		}
	}
	return true
}

// record writes f to the catalogue row of the version etag. The metadata
// hook writes that row from the same event, perhaps later than this hook
// gets here; with waitRow, record waits for it (RowWait) and then fails
// temporarily so the event is retried. A row that moved on to a newer
// version, or a newer event of this hook already applied, ends the wait:
// their own events record them.
func (p *Processor) record(ctx context.Context, bucket, key, seq, etag string, f catalog.HookFields, waitRow bool) error {
	if p.cat == nil {
		return nil
	}
	deadline := time.Now().Add(p.opts.RowWait)
	pause := 50 * time.Millisecond
	for {
		ok, err := p.cat.SetObjectFields(ctx, Name, bucket, key, seq, etag, f)
		if errors.Is(err, catalog.ErrInvalidObjectKey) {
			return processors.Permanent(err)
		}
		if err != nil {
			return fmt.Errorf("record: %w", err)
		}
		if ok || !waitRow {
			return nil
		}
		if applied, err := p.cat.ProcessorSequencer(ctx, Name, bucket, key); err == nil && applied > seq {
			return nil
		}
		if info, err := p.backend.HeadObject(ctx, bucket, key, backends.GetOptions{}); absent(err) || (err == nil && info.ETag != etag) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the catalogue has no row of version %s after %s: is the metadata hook keeping up?", etag, p.opts.RowWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// exifJSON is the catalogue's exif document: the orientation and the
// EXIF fields the image has.
func exifJSON(in render.Info) json.RawMessage {
	doc := struct {
		Format      string      `json:"format"`
		Orientation int         `json:"orientation"`
		Make        string      `json:"make,omitempty"`
		Model       string      `json:"model,omitempty"`
		Lens        string      `json:"lens,omitempty"`
		TakenAt     *time.Time  `json:"taken_at,omitempty"`
		GPS         *render.GPS `json:"gps,omitempty"`
	}{Format: in.Format, Orientation: in.Orientation, Make: in.Make, Model: in.Model, Lens: in.LensModel, GPS: in.GPS}
	if !in.TakenAt.IsZero() {
		doc.TakenAt = &in.TakenAt
	}
	b, _ := json.Marshal(doc)
	return b
}

// absent reports whether err means the object (or its bucket) is not
// there, or cannot be.
func absent(err error) bool {
	return errors.Is(err, backends.ErrNoSuchKey) || errors.Is(err, backends.ErrNoSuchBucket) ||
		errors.Is(err, backends.ErrInvalidKey) || errors.Is(err, backends.ErrKeyTooLong) ||
		errors.Is(err, backends.ErrInvalidBucket)
}
