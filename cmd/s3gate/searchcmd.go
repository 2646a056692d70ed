package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/processors/search/index"
)

// searchCmd queries and rebuilds the search index of a running s3gate
// through its admin API.
type searchCmd struct {
	adminClient `embed:""`

	Find    searchFindCmd    `cmd:"" help:"Find objects: words of their keys, text, metadata or tags, with filters."`
	Reindex searchReindexCmd `cmd:"" help:"Rebuild the search documents of a bucket, or of every bucket, from the backend."`
}

type searchFindCmd struct {
	Words       []string `arg:"" optional:"" name:"words" env:"-" help:"Words every hit must match; none lists everything readable."`
	Bucket      string   `env:"-" help:"Only this bucket."`
	Prefix      string   `env:"-" help:"Only keys under this prefix (with --bucket)."`
	ContentType string   `name:"type" env:"-" help:"Only this media type (image/png) or type (image/*)."`
	Tag         []string `env:"-" placeholder:"K=V" help:"Only objects with this tag (repeat for several)."`
	Limit       int      `default:"20" env:"-" help:"Hits per page."`
	PageToken   string   `name:"page-token" env:"-" help:"Continue from an earlier page."`
	JSON        bool     `name:"json" env:"-" help:"Print the API's JSON instead of a table."`
}

type searchReindexCmd struct {
	Bucket string `env:"-" help:"Only this bucket (default every bucket)."`
}

func (c *searchFindCmd) Run(s *searchCmd) error {
	q := url.Values{"limit": {strconv.Itoa(c.Limit)}}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("q", strings.Join(c.Words, " "))
	set("bucket", c.Bucket)
	set("prefix", c.Prefix)
	set("content_type", c.ContentType)
	set("page_token", c.PageToken)
	for _, t := range c.Tag {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return fmt.Errorf("--tag %q: want KEY=VALUE", t)
		}
		q.Set("tag."+k, v)
	}
	resp, err := s.call(context.Background(), http.MethodGet, "/api/v1/search?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res index.Result
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(s.out())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(s.out(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tKEY\tSIZE\tTYPE\tMODIFIED")
	for _, h := range res.Hits {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", h.Bucket, h.Key, h.Size, h.ContentType, h.Modified.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(s.out(), "%d of %d matching objects\n", len(res.Hits), res.Total)
	if res.NextPageToken != "" {
		fmt.Fprintf(s.out(), "more: --page-token %s\n", res.NextPageToken)
	}
	return nil
}

func (c *searchReindexCmd) Run(s *searchCmd) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	resp, err := s.call(ctx, http.MethodPost, "/api/v1/search/reindex", map[string]string{"bucket": c.Bucket})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	what := c.Bucket
	if what == "" {
		what = "every bucket"
	}
	bar := newProgressBar(s.out(), "reindex "+what)
	last, err := followLines(resp.Body, func(l gateway.ReindexLine) { bar.show(l.Indexed, -1) },
		func(l gateway.ReindexLine) bool { return l.Done || l.Error != "" })
	bar.end()
	switch {
	case err != nil:
		return fmt.Errorf("reindex after %d objects: %w", last.Indexed, err)
	case last.Error != "":
		return fmt.Errorf("reindex stopped after %d objects: %s", last.Indexed, last.Error)
	}
	fmt.Fprintf(s.out(), "reindex %s: %d objects indexed, %d documents of objects no longer there removed\n", what, last.Indexed, last.Removed)
	return nil
}
