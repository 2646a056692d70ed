package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/search/index"
)

// Search is the search index the admin API queries and rebuilds:
//
//	GET  /api/v1/search?q=...&bucket=&prefix=&content_type=&min_size=&max_size=&modified_after=&tag.K=V&limit=&page_token=
//	POST /api/v1/search/reindex   {"bucket"}: rebuild the documents of a bucket (all when empty)
type Search interface {
	Search(ctx context.Context, q index.Query) (index.Result, error)
	Reindex(ctx context.Context, bucket string, progress func(ReindexProgress)) (ReindexProgress, error)
}

// ReindexProgress counts a reindex's work so far.
type ReindexProgress struct {
	Bucket  string `json:"bucket,omitempty"` // the bucket being worked on
	Indexed int64  `json:"indexed"`          // objects whose documents were written
	Removed int64  `json:"removed"`          // documents of objects no longer there
}

// ReindexLine is one line of a reindex's answer: progress, then a last
// line that is done or names the error that stopped it.
type ReindexLine struct {
	ReindexProgress
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
}

var errSearchOff = &adminError{http.StatusNotImplemented, "SearchDisabled", "Search is turned off on this server (search.enabled)."}

// search answers a query with the hits the caller may read: the policy's
// readable grants are part of the query, and each hit is checked again
// against the policy (a guard should a grant and a rule disagree); a hit
// that fails it is replaced from the next page, so pages stay full.
func (a *admin) search(w http.ResponseWriter, r *http.Request) error {
	if a.g.opts.Search == nil {
		return errSearchOff
	}
	qs := r.URL.Query()
	f, err := objectFilter(qs)
	if err != nil {
		return err
	}
	if !f.ModifiedBefore.IsZero() {
		return badArg("modified_before", "left out: search filters by modified_after only")
	}
	q := index.Query{
		Text: qs.Get("q"), Bucket: f.Bucket, Prefix: f.Prefix, ContentType: f.ContentType,
		MinSize: f.MinSize, MaxSize: f.MaxSize, ModifiedAfter: f.ModifiedSince, Tags: f.Tags,
		Limit: f.Limit, PageToken: f.PageToken,
	}
	grants, err := a.readable(r)
	if err != nil {
		return err
	}
	for _, g := range grants {
		q.Readable = append(q.Readable, index.Grant{Bucket: g.Bucket, Prefix: g.Prefix})
	}
	if len(q.Readable) == 0 {
		// Nothing readable: an empty answer, not an error.
		return writeAdminJSON(w, http.StatusOK, index.Result{Hits: []index.Hit{},
			Facets: map[string][]index.Facet{"bucket": {}, "content_type": {}}})
	}
	res, err := a.g.opts.Search.Search(r.Context(), q)
	if err != nil {
		return searchError(err)
	}
	if res.Hits, err = a.readableHits(r, res.Hits); err != nil {
		return err
	}
	want := max(q.Limit, 1)
	if q.Limit == 0 {
		want = index.DefaultLimit
	}
	// Each round takes at least one hit further; the cap bounds the work
	// of one request when a policy denies long runs of its own grants (the
	// page then comes back short, with its token).
	for round := 0; len(res.Hits) < want && res.NextPageToken != "" && round < maxTopUps; round++ {
		q.PageToken, q.Limit = res.NextPageToken, want-len(res.Hits)
		more, err := a.g.opts.Search.Search(r.Context(), q)
		if err != nil {
			return searchError(err)
		}
		kept, err := a.readableHits(r, more.Hits)
		if err != nil {
			return err
		}
		res.Hits = append(res.Hits, kept...)
		res.NextPageToken = more.NextPageToken
	}
	if res.Hits == nil {
		res.Hits = []index.Hit{}
	}
	return writeAdminJSON(w, http.StatusOK, res)
}

// maxTopUps bounds the extra index queries that refill one page.
const maxTopUps = 32

// readableHits drops the hits the policy does not let the caller read. A
// policy that fails to decide fails the search: a hit is left out only
// when it is denied.
func (a *admin) readableHits(r *http.Request, hits []index.Hit) ([]index.Hit, error) {
	kept := hits[:0]
	for _, h := range hits {
		err := a.g.allowed(r, "s3:GetObject", h.Bucket, h.Key)
		var apiErr *APIError
		switch {
		case err == nil:
			kept = append(kept, h)
		case errors.As(err, &apiErr) && apiErr.Code == "AccessDenied":
			a.g.log.WarnContext(r.Context(), "search hit outside the policy's readable grants dropped; the policy's readable rule and its allow rules disagree",
				"request_id", requestState(r.Context()).id, "bucket", h.Bucket, "key", h.Key)
		default:
			return nil, err
		}
	}
	return kept, nil
}

func searchError(err error) error {
	switch {
	case errors.Is(err, index.ErrInvalidQuery):
		return &adminError{http.StatusBadRequest, "InvalidArgument", strings.TrimPrefix(err.Error(), "search: ")}
	case errors.Is(err, index.ErrUnavailable):
		return &adminError{http.StatusServiceUnavailable, "ServiceUnavailable", "The search index is unavailable; please retry."}
	}
	return err
}

type reindexRequest struct {
	Bucket string `json:"bucket"`
}

// reindex rebuilds the documents of a bucket, or of every bucket, from
// the backend, streaming one JSON progress line at a time.
func (a *admin) reindex(w http.ResponseWriter, r *http.Request) error {
	if a.g.opts.Search == nil {
		return errSearchOff
	}
	var req reindexRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if req.Bucket != "" {
		if !backends.ValidBucketName(req.Bucket) {
			return &adminError{http.StatusBadRequest, "InvalidBucketName", `"bucket" must name a bucket, or be left out for all.`}
		}
		if _, err := a.g.backend.HeadBucket(ctx, req.Bucket); err != nil {
			return err
		}
	}
	st := requestState(ctx)
	a.g.log.InfoContext(ctx, "reindex started", "request_id", st.id, "bucket", req.Bucket, "by", st.principal.ID)
	send := streamLines(w)
	last := time.Time{}
	p, err := a.g.opts.Search.Reindex(ctx, req.Bucket, func(p ReindexProgress) {
		if time.Since(last) >= 200*time.Millisecond {
			last = time.Now()
			send(ReindexLine{ReindexProgress: p})
		}
	})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			a.g.log.ErrorContext(ctx, "reindex failed", "request_id", st.id, "bucket", req.Bucket, "err", err)
		}
		send(ReindexLine{ReindexProgress: p, Error: err.Error()})
		return nil
	}
	a.g.log.InfoContext(ctx, "reindex done", "request_id", st.id, "bucket", req.Bucket, "indexed", p.Indexed, "removed", p.Removed)
	send(ReindexLine{ReindexProgress: p, Done: true})
	return nil
}

// streamLines starts a streamed NDJSON answer and returns the function
// that sends one line: a long operation reports as it goes, so a terminal
// can draw progress and a proxy sees the connection is alive.
func streamLines(w http.ResponseWriter) func(v any) {
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	return func(v any) {
		enc.Encode(v)
		rc.Flush()
	}
}
