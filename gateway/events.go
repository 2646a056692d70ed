package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/sniff"
)

// Outbox makes the gateway's events durable (processors/outbox implements
// it). The order is what keeps an event from being lost:
//
//  1. Begin records the intent (bucket, key, sequencer, request id) on
//     disk before the backend is asked to change anything. If that fails,
//     the request fails and nothing changes.
//  2. The backend commits (or not).
//  3. Commit hands over the final record, which is published in the
//     background; Abort drops the intent.
//  4. The client gets its answer.
//
// A crash between 1 and 3 leaves an intent without an outcome; at the next
// start the outbox asks Reconcile, which looks at the backend and emits the
// event when the change is there. A queue that is down only delays
// publication: committed events stay in the outbox until it returns.
type Outbox interface {
	Begin(ctx context.Context, rec events.Record) (Ticket, error)
	BeginAll(ctx context.Context, recs []events.Record) ([]Ticket, error)
}

// Ticket is one recorded intent, waiting for the backend's outcome.
type Ticket interface {
	Commit(rec events.Record)
	Abort()
}

// change is a mutation in flight: its intent is recorded, its outcome not
// yet known. The zero change (no outbox configured) records nothing.
type change struct {
	ticket Ticket
	rec    events.Record
}

// record builds the event of a mutation of key by the request r, with
// everything known before the backend is called.
func (g *Gateway) record(r *http.Request, name, key, contentType string) events.Record {
	st := requestState(r.Context())
	principal, auth := "anonymous", "anonymous"
	if st.principal != nil {
		principal = st.principal.ID
	}
	if st.authKind != "" {
		auth = string(st.authKind)
	}
	return events.New(events.Change{
		Name:        name,
		Region:      g.opts.Region,
		Time:        g.now(),
		Bucket:      st.bucket,
		Key:         key,
		Sequencer:   g.opts.Sequencer.Next(),
		Principal:   principal,
		SourceIP:    sourceIP(r),
		RequestID:   st.id,
		HostID:      g.hostID,
		ContentType: contentType,
		Auth:        auth,
	})
}

// begin records the intent to make the change named name to key. Its
// error fails the request before the backend is touched.
func (g *Gateway) begin(r *http.Request, name, key, contentType string) (change, error) {
	if g.opts.Outbox == nil {
		return change{}, nil
	}
	rec := g.record(r, name, key, contentType)
	t, err := g.opts.Outbox.Begin(r.Context(), rec)
	if err != nil {
		return change{}, g.outboxError(r, err)
	}
	return change{ticket: t, rec: rec}, nil
}

// outboxError logs why an intent could not be recorded and answers 503:
// the write was not attempted, so the client may safely retry.
func (g *Gateway) outboxError(r *http.Request, err error) error {
	g.log.ErrorContext(r.Context(), "cannot record the event of a write; refusing it", "request_id", requestState(r.Context()).id, "err", err)
	return s3Error("ServiceUnavailable")
}

// done reports the backend's outcome: the event of a committed change is
// published, the intent of a failed one dropped. finish adds what only the
// handler knows to the final record.
func (c change) done(info backends.ObjectInfo, err error, finish ...func(*events.Record)) {
	if c.ticket == nil {
		return
	}
	if err != nil {
		c.ticket.Abort()
		return
	}
	rec := c.rec
	rec.S3.Object.Size = info.Size
	rec.S3.Object.ETag = info.ETag
	if info.ContentType != "" {
		rec.S3gate.ContentType = info.ContentType
	}
	if info.Checksum.Value != "" {
		rec.S3gate.Checksum = info.Checksum.Algorithm + ":" + info.Checksum.Value
	}
	for _, f := range finish {
		f(&rec)
	}
	c.ticket.Commit(rec)
}

// mutate runs a backend call that changes key, with its event recorded
// before and committed or dropped after. contentType is the object's, when
// the request declares it; finish completes the final record.
func (g *Gateway) mutate(r *http.Request, name, key, contentType string, call func() (backends.ObjectInfo, error), finish ...func(*events.Record)) (backends.ObjectInfo, error) {
	c, err := g.begin(r, name, key, contentType)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	info, err := call()
	c.done(info, err, finish...)
	return info, err
}

// sniffed passes an upload's body through a sniffer when events are
// recorded, and returns the finish that puts the media type of its first
// bytes in the event: hooks then need not read the object to know it.
func (g *Gateway) sniffed(body io.Reader) (io.Reader, func(*events.Record)) {
	if g.opts.Outbox == nil {
		return body, func(*events.Record) {}
	}
	s := sniff.NewReader(body)
	return s, func(rec *events.Record) { rec.S3gate.SniffedType = s.Type() }
}

// mutateAll is mutate for several keys of one request (DeleteObjects): one
// durable write records every intent.
func (g *Gateway) mutateAll(r *http.Request, name string, keys []string) ([]change, error) {
	cs := make([]change, len(keys))
	if g.opts.Outbox == nil || len(keys) == 0 {
		return cs, nil
	}
	recs := make([]events.Record, len(keys))
	for i, k := range keys {
		recs[i] = g.record(r, name, k, "")
	}
	ts, err := g.opts.Outbox.BeginAll(r.Context(), recs)
	if err != nil {
		return nil, g.outboxError(r, err)
	}
	for i := range cs {
		cs[i] = change{ticket: ts[i], rec: recs[i]}
	}
	return cs, nil
}

// reconcileSlack allows for a backend whose clock, or whose LastModified
// resolution (whole seconds on S3), puts a write slightly before the time
// its intent was recorded.
const reconcileSlack = 2 * time.Second

// Reconcile decides the fate of an intent whose outcome was never
// recorded (s3gate stopped between recording it and hearing from the
// backend): it looks at the object now and returns the event to emit, or
// false when the change evidently did not happen. Emitting for a change
// that did not happen costs a processor a look at an object that did not
// change; dropping one that did would lose it, so doubt emits.
func (g *Gateway) Reconcile(ctx context.Context, intent events.Record) (events.Record, bool, error) {
	info, err := g.backend.HeadObject(ctx, intent.S3.Bucket.Name, intent.Key(), backends.GetOptions{})
	gone := errors.Is(err, backends.ErrNoSuchKey) || errors.Is(err, backends.ErrNoSuchBucket)
	if err != nil && !gone {
		return events.Record{}, false, err
	}
	at, perr := time.Parse("2006-01-02T15:04:05.000Z", intent.EventTime)
	if perr != nil {
		at = time.Time{}
	}
	written := !gone && !info.LastModified.Before(at.Add(-reconcileSlack))
	rec := intent
	switch {
	case strings.HasPrefix(intent.EventName, "ObjectCreated:"):
		if !written {
			return events.Record{}, false, nil
		}
		rec.S3.Object.Size, rec.S3.Object.ETag = info.Size, info.ETag
		if info.ContentType != "" {
			rec.S3gate.ContentType = info.ContentType
		}
		return rec, true, nil
	case intent.EventName == events.ObjectRemovedDelete:
		// Still there and older than the intent: the delete did not
		// happen. Newer: written again since, which its own event tells.
		if !gone && !written {
			return events.Record{}, false, nil
		}
		return rec, true, nil
	default: // tagging: tags carry no time; emit while the object exists
		return rec, !gone, nil
	}
}
