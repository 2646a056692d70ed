package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/backfill"
	"github.com/s3gate/s3gate/processors/queue"
)

// The admin API's view of the event pipeline:
//
//	GET  /api/v1/events/dlq[?processor=P&limit=N]  events the hooks gave up on
//	POST /api/v1/events/dlq/replay                 {"processor", "ids": [...]}: publish them again
//	POST /api/v1/events/backfill                   {"bucket", "prefix"}: events for existing objects;
//	                                                answered with one JSON progress line per page

// Hooks is the event pipeline as the admin API sees it.
type Hooks interface {
	// Processors names the hooks that run.
	Processors() []string
	DeadLetters(ctx context.Context, processor string, max int) ([]queue.DeadLetter, error)
	Replay(ctx context.Context, processor string, ids ...string) (int, error)
	Backfill(ctx context.Context, bucket, prefix string, progress func(backfill.Progress)) (backfill.Progress, error)
}

// DeadLetterInfo is a dead letter as the admin API and `s3gate events dlq
// list` show it.
type DeadLetterInfo struct {
	ID         string          `json:"id"`
	Processor  string          `json:"processor"`
	Reason     string          `json:"reason"`
	At         time.Time       `json:"at"`
	Deliveries int             `json:"deliveries"`
	Event      json.RawMessage `json:"event"`
}

// maxDeadLetters bounds one listing.
const maxDeadLetters = 1000

var errEventsOff = &adminError{http.StatusNotImplemented, "EventsDisabled", "Events are turned off on this server (events.enabled)."}

func (a *admin) processorArg(r *http.Request) ([]string, error) {
	all := a.g.opts.Hooks.Processors()
	p := r.URL.Query().Get("processor")
	if p == "" {
		return all, nil
	}
	if !slices.Contains(all, p) {
		return nil, &adminError{http.StatusNotFound, "NoSuchProcessor", "No hook named " + strconv.Quote(p) + " runs here."}
	}
	return []string{p}, nil
}

func (a *admin) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	if a.g.opts.Hooks == nil {
		return errEventsOff
	}
	procs, err := a.processorArg(r)
	if err != nil {
		return err
	}
	limit := maxDeadLetters
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeadLetters {
			return &adminError{http.StatusBadRequest, "InvalidArgument", "limit must be between 1 and " + strconv.Itoa(maxDeadLetters) + "."}
		}
		limit = n
	}
	out := struct {
		DeadLetters []DeadLetterInfo `json:"dead_letters"`
	}{DeadLetters: []DeadLetterInfo{}}
	for _, p := range procs {
		dls, err := a.g.opts.Hooks.DeadLetters(r.Context(), p, limit)
		if err != nil {
			return err
		}
		for _, d := range dls {
			ev := json.RawMessage(d.Body)
			if !json.Valid(ev) { // poison that is not even JSON: show it as a string
				ev, _ = json.Marshal(string(d.Body))
			}
			out.DeadLetters = append(out.DeadLetters, DeadLetterInfo{ID: d.ID, Processor: p, Reason: d.Reason, At: d.At.UTC(), Deliveries: d.Deliveries, Event: ev})
		}
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

type replayRequest struct {
	Processor string   `json:"processor"`
	IDs       []string `json:"ids"`
}

func (a *admin) replayDeadLetters(w http.ResponseWriter, r *http.Request) error {
	if a.g.opts.Hooks == nil {
		return errEventsOff
	}
	var req replayRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	if req.Processor == "" || len(req.IDs) == 0 || len(req.IDs) > maxDeadLetters {
		return &adminError{http.StatusBadRequest, "InvalidRequest", `"processor" and "ids" (1 to 1000 dead letter ids) are required.`}
	}
	if !slices.Contains(a.g.opts.Hooks.Processors(), req.Processor) {
		return &adminError{http.StatusNotFound, "NoSuchProcessor", "No hook named " + strconv.Quote(req.Processor) + " runs here."}
	}
	n, err := a.g.opts.Hooks.Replay(r.Context(), req.Processor, req.IDs...)
	if err != nil {
		return err
	}
	a.g.log.InfoContext(r.Context(), "dead letters replayed", "request_id", requestState(r.Context()).id, "processor", req.Processor, "count", n, "by", requestState(r.Context()).principal.ID)
	return writeAdminJSON(w, http.StatusOK, struct {
		Replayed int `json:"replayed"`
	}{n})
}

type backfillRequest struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
}

// BackfillLine is one line of a backfill's answer: progress, then a last
// line with Done or Error set.
type BackfillLine struct {
	backfill.Progress
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
}

func (a *admin) backfill(w http.ResponseWriter, r *http.Request) error {
	if a.g.opts.Hooks == nil {
		return errEventsOff
	}
	var req backfillRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	if !backends.ValidBucketName(req.Bucket) {
		return &adminError{http.StatusBadRequest, "InvalidBucketName", `"bucket" must name a bucket.`}
	}
	ctx := r.Context()
	if _, err := a.g.backend.HeadBucket(ctx, req.Bucket); err != nil {
		return err
	}
	st := requestState(ctx)
	a.g.log.InfoContext(ctx, "backfill started", "request_id", st.id, "bucket", req.Bucket, "prefix", req.Prefix, "by", st.principal.ID)
	send := streamLines(w) // a line per page
	last := time.Time{}
	p, err := a.g.opts.Hooks.Backfill(ctx, req.Bucket, req.Prefix, func(p backfill.Progress) {
		if time.Since(last) >= 200*time.Millisecond {
			last = time.Now()
			send(BackfillLine{Progress: p})
		}
	})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			a.g.log.ErrorContext(ctx, "backfill failed", "request_id", st.id, "bucket", req.Bucket, "err", err)
		}
		send(BackfillLine{Progress: p, Error: err.Error()})
		return nil
	}
	a.g.log.InfoContext(ctx, "backfill done", "request_id", st.id, "bucket", req.Bucket, "prefix", req.Prefix, "emitted", p.Emitted)
	send(BackfillLine{Progress: p, Done: true})
	return nil
}
