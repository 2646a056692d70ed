package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/catalog"
)

// GET /api/v1/objects lists the catalogue's object rows (the metadata
// hook's), filtered by
//
//	bucket, prefix, content_type (image/png or image/*), min_size, max_size,
//	modified_after, modified_before (RFC 3339), tag.KEY=VALUE (repeatable),
//	limit (1..1000, default 100), page_token
//
// and by where the caller may read: the policy's readable grants become
// part of the query, so a page holds only rows the caller may read and is
// full whenever more follow.

// ObjectCatalog is the part of the catalogue the objects route reads.
type ObjectCatalog interface {
	ListObjects(ctx context.Context, f catalog.ObjectFilter) ([]catalog.Object, string, error)
}

// ObjectRow is an object as GET /api/v1/objects shows it.
type ObjectRow struct {
	Bucket             string            `json:"bucket"`
	Key                string            `json:"key"`
	Size               int64             `json:"size"`
	ETag               string            `json:"etag"`
	ChecksumAlgorithm  string            `json:"checksum_algorithm,omitempty"`
	Checksum           string            `json:"checksum,omitempty"`
	ContentType        string            `json:"content_type"`
	SniffedContentType string            `json:"sniffed_content_type,omitempty"`
	Owner              string            `json:"owner,omitempty"`
	Created            time.Time         `json:"created"`
	Modified           time.Time         `json:"modified"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	Sequencer          string            `json:"sequencer"`
	ImageWidth         *int              `json:"image_width,omitempty"`
	ImageHeight        *int              `json:"image_height,omitempty"`
	EXIF               json.RawMessage   `json:"exif,omitempty"`
	Variants           json.RawMessage   `json:"variants,omitempty"`
	ScanVerdict        *string           `json:"scan_verdict,omitempty"`
	HookError          *string           `json:"hook_error,omitempty"`
}

func newObjectRow(o catalog.Object) ObjectRow {
	return ObjectRow{
		Bucket: o.Bucket, Key: o.Key, Size: o.Size, ETag: o.ETag,
		ChecksumAlgorithm: o.ChecksumAlgorithm, Checksum: o.ChecksumValue,
		ContentType: o.ContentType, SniffedContentType: o.SniffedContentType,
		Owner: o.Owner, Created: o.Created, Modified: o.Modified,
		Metadata: o.Metadata, Tags: o.Tags, Sequencer: o.Sequencer,
		ImageWidth: o.ImageWidth, ImageHeight: o.ImageHeight, EXIF: o.EXIF, Variants: o.Variants,
		ScanVerdict: o.ScanVerdict, HookError: o.HookError,
	}
}

func badArg(name, want string) error {
	return &adminError{http.StatusBadRequest, "InvalidArgument", name + " must be " + want + "."}
}

// objectFilter reads the query's filters.
func objectFilter(q url.Values) (catalog.ObjectFilter, error) {
	f := catalog.ObjectFilter{
		Bucket: q.Get("bucket"), Prefix: q.Get("prefix"), ContentType: q.Get("content_type"), PageToken: q.Get("page_token"),
	}
	for _, b := range []struct {
		name string
		dst  **int64
	}{{"min_size", &f.MinSize}, {"max_size", &f.MaxSize}} {
		if s := q.Get(b.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return f, badArg(b.name, "a size in bytes")
			}
			*b.dst = &n
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"modified_after", &f.ModifiedSince}, {"modified_before", &f.ModifiedBefore}} {
		if s := q.Get(t.name); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, badArg(t.name, "an RFC 3339 time (2026-01-02T15:04:05Z)")
			}
			*t.dst = v
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > catalog.MaxObjectPage {
			return f, badArg("limit", "between 1 and "+strconv.Itoa(catalog.MaxObjectPage))
		}
		f.Limit = n
	}
	for name, vs := range q {
		if k, ok := strings.CutPrefix(name, "tag."); ok {
			if k == "" || len(vs) != 1 {
				return f, badArg(name, "given once, as tag.KEY=VALUE")
			}
			if f.Tags == nil {
				f.Tags = map[string]string{}
			}
			f.Tags[k] = vs[0]
		}
	}
	return f, nil
}

func (a *admin) listObjects(w http.ResponseWriter, r *http.Request) error {
	if a.g.opts.Objects == nil {
		return &adminError{http.StatusNotImplemented, "CatalogueDisabled", "The object catalogue is turned off on this server (events.metadata)."}
	}
	f, err := objectFilter(r.URL.Query())
	if err != nil {
		return err
	}
	if f.Readable, err = a.readable(r); err != nil {
		return err
	}
	rows, next, err := a.g.opts.Objects.ListObjects(r.Context(), f)
	if errors.Is(err, catalog.ErrInvalidFilter) {
		return &adminError{http.StatusBadRequest, "InvalidArgument", strings.TrimPrefix(err.Error(), "catalog: ")}
	}
	if err != nil {
		return err
	}
	out := struct {
		Objects       []ObjectRow `json:"objects"`
		NextPageToken string      `json:"next_page_token,omitempty"`
	}{Objects: make([]ObjectRow, 0, len(rows)), NextPageToken: next}
	for _, o := range rows {
		out.Objects = append(out.Objects, newObjectRow(o))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// readable is where the caller may read, from the policy's readable
// grants; without a policy every authenticated caller may read
// everything, as on the S3 API.
func (a *admin) readable(r *http.Request) ([]catalog.ReadGrant, error) {
	if a.g.opts.Authorizer == nil {
		return []catalog.ReadGrant{{Bucket: "*"}}, nil
	}
	in := a.g.policyInput(r, "s3:GetObject", "", "")
	grants, err := a.g.opts.Authorizer.Readable(r.Context(), in.Principal)
	if err != nil {
		return nil, err
	}
	out := make([]catalog.ReadGrant, 0, len(grants))
	for _, g := range grants {
		out = append(out, catalog.ReadGrant{Bucket: g.Bucket, Prefix: g.Prefix})
	}
	return out, nil
}
