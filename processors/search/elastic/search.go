package elastic

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/typedapi/core/search"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/highlighterencoder"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/operator"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/sortorder"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/textquerytype"

	"github.com/s3gate/s3gate/processors/search/index"
)

// Query limits.
const (
	facetSize    = 50
	keysPage     = 1000
	pitKeepAlive = "1m"
)

// highlightFields are tried in this order for a hit's highlight.
var highlightFields = []string{"text", "words", "values"}

// words splits the user's text into the words every hit must contain, as
// the index's analyzer splits the documents' text (index.QueryWords).
func words(text string) ([]string, error) { return index.QueryWords(text, index.IsWordRune) }

// Scores of a query word, by where it matches (the best counts): a word
// of the key, the start of one, the start of a word of a metadata or tag
// value, of the text. A hit's score is the sum over the query's words: it
// depends on the document and the query only (not on the rest of the
// index, as BM25's would), so a page token's position stays put while
// documents come and go.
var wordScores = []struct {
	field  string
	prefix bool
	score  float32
}{
	{"words", false, 6},
	{"words", true, 4},
	{"values", true, 2},
	{"text", true, 1},
}

// wordQuery matches documents with word w, scored by wordScores.
func wordQuery(w string) types.Query {
	and := operator.And
	var qs []types.Query
	for _, ws := range wordScores {
		var m types.Query
		if ws.prefix {
			m.MatchBoolPrefix = map[string]types.MatchBoolPrefixQuery{ws.field: {Query: w, Operator: &and}}
		} else {
			m.Match = map[string]types.MatchQuery{ws.field: {Query: w, Operator: &and}}
		}
		score := ws.score
		qs = append(qs, types.Query{ConstantScore: &types.ConstantScoreQuery{Filter: m, Boost: &score}})
	}
	return types.Query{DisMax: &types.DisMaxQuery{Queries: qs}}
}

// highlightQuery marks every word, as a word or the start of one.
func highlightQuery(ws []string) *types.Query {
	typ := textquerytype.Boolprefix
	b := &types.BoolQuery{}
	for _, w := range ws {
		b.Should = append(b.Should, types.Query{MultiMatch: &types.MultiMatchQuery{
			Query: w, Type: &typ, Fields: highlightFields,
		}})
	}
	return &types.Query{Bool: b}
}

func term(field string, v any) types.Query {
	return types.Query{Term: map[string]types.TermQuery{field: {Value: v}}}
}

func prefix(field, v string) types.Query {
	return types.Query{Prefix: map[string]types.PrefixQuery{field: {Value: v}}}
}

// buildQuery turns q into the bool query: every word must match, in the
// key's words, a metadata or tag value or the text, as a word or the start
// of one ("rep" finds "report"); the filters and the grants restrict
// without scoring.
func buildQuery(q index.Query, ws []string) (*types.Query, error) {
	if len(q.Readable) == 0 {
		return nil, fmt.Errorf("%w: no grants", index.ErrInvalidQuery)
	}
	b := &types.BoolQuery{}
	for _, w := range ws {
		b.Must = append(b.Must, wordQuery(w))
	}
	b.Filter = append(b.Filter, term("deleted", false))
	if q.Bucket != "" {
		b.Filter = append(b.Filter, term("bucket", q.Bucket))
	}
	if q.Prefix != "" {
		b.Filter = append(b.Filter, prefix("key", q.Prefix))
	}
	if ct := strings.ToLower(q.ContentType); ct != "" {
		if t, ok := strings.CutSuffix(ct, "/*"); ok {
			b.Filter = append(b.Filter, prefix("content_type", t+"/"))
		} else {
			b.Filter = append(b.Filter, term("content_type", ct))
		}
	}
	if q.MinSize != nil || q.MaxSize != nil {
		r := types.NumberRangeQuery{}
		if q.MinSize != nil {
			v := types.Float64(*q.MinSize)
			r.Gte = &v
		}
		if q.MaxSize != nil {
			v := types.Float64(*q.MaxSize)
			r.Lte = &v
		}
		b.Filter = append(b.Filter, types.Query{Range: map[string]types.RangeQuery{"size": r}})
	}
	if !q.ModifiedAfter.IsZero() {
		after := formatTime(q.ModifiedAfter)
		b.Filter = append(b.Filter, types.Query{Range: map[string]types.RangeQuery{
			"modified": types.DateRangeQuery{Gt: &after},
		}})
	}
	for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
		b.Filter = append(b.Filter, term("tags."+k, q.Tags[k]))
	}
	var grants []types.Query
	for _, g := range q.Readable {
		var f []types.Query
		switch {
		case g.Bucket == "":
			return nil, fmt.Errorf("%w: grant without a bucket", index.ErrInvalidQuery)
		case g.Bucket != "*":
			f = append(f, term("bucket", g.Bucket))
		}
		if g.Prefix != "" {
			f = append(f, prefix("key", g.Prefix))
		}
		if len(f) == 0 {
			grants = append(grants, types.Query{MatchAll: &types.MatchAllQuery{}})
		} else {
			grants = append(grants, types.Query{Bool: &types.BoolQuery{Filter: f}})
		}
	}
	b.Filter = append(b.Filter, types.Query{Bool: &types.BoolQuery{Should: grants, MinimumShouldMatch: 1}})
	return &types.Query{Bool: b}, nil
}

// sortOrder is relevance, then bucket and key: unique, so search_after
// never skips or repeats a hit.
func sortOrder() []types.SortCombinations {
	desc, asc := sortorder.Desc, sortorder.Asc
	return []types.SortCombinations{
		types.SortOptions{Score_: &types.ScoreSort{Order: &desc}},
		types.SortOptions{SortOptions: map[string]types.FieldSort{"bucket": {Order: &asc}}},
		types.SortOptions{SortOptions: map[string]types.FieldSort{"key": {Order: &asc}}},
	}
}

// queryHash identifies a query, page token and limit aside.
func queryHash(q index.Query) []byte {
	var mod int64
	if !q.ModifiedAfter.IsZero() {
		mod = q.ModifiedAfter.UnixNano()
	}
	b, _ := json.Marshal(struct {
		Text, Bucket, Prefix, ContentType string
		MinSize, MaxSize                  *int64
		ModifiedAfter                     int64
		Tags                              map[string]string
		Readable                          []index.Grant
	}{q.Text, q.Bucket, q.Prefix, q.ContentType, q.MinSize, q.MaxSize, mod, q.Tags, q.Readable})
	sum := sha256.Sum256(b)
	return sum[:16]
}

// token is the payload of a page token.
type token struct {
	Query []byte            `json:"q"`
	After []json.RawMessage `json:"a"`
}

func (ix *Index) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, ix.tokenKey)
	m.Write(payload)
	return m.Sum(nil)
}

// encodeToken makes the token of the page after the hit with sort values
// after.
func (ix *Index) encodeToken(q index.Query, after []types.FieldValue) (string, error) {
	t := token{Query: queryHash(q)}
	for _, v := range after {
		raw, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		t.After = append(t.After, raw)
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(ix.sign(payload)), nil
}

// decodeToken checks s and returns its search_after values.
func (ix *Index) decodeToken(q index.Query, s string) ([]types.FieldValue, error) {
	bad := fmt.Errorf("%w: bad page token", index.ErrInvalidQuery)
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return nil, bad
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, ix.sign(payload)) {
		return nil, bad
	}
	var t token
	if err := json.Unmarshal(payload, &t); err != nil || len(t.After) == 0 {
		return nil, bad
	}
	if !hmac.Equal(t.Query, queryHash(q)) {
		return nil, fmt.Errorf("%w: page token of another query", index.ErrInvalidQuery)
	}
	after := make([]types.FieldValue, len(t.After))
	for i, v := range t.After {
		after[i] = v
	}
	return after, nil
}

// searchRequest is the body of the search for q.
func (ix *Index) searchRequest(q index.Query) (*search.Request, int, error) {
	limit := q.Limit
	if limit == 0 {
		limit = index.DefaultLimit
	}
	if limit < 0 || limit > index.MaxLimit {
		return nil, 0, fmt.Errorf("%w: limit %d not in 1..%d", index.ErrInvalidQuery, q.Limit, index.MaxLimit)
	}
	ws, err := words(q.Text)
	if err != nil {
		return nil, 0, err
	}
	query, err := buildQuery(q, ws)
	if err != nil {
		return nil, 0, err
	}
	size := limit + 1 // one more tells whether a next page exists
	var hl *types.Highlight
	if len(ws) > 0 {
		frag, one, html := 150, 1, highlighterencoder.Html
		hl = &types.Highlight{
			HighlightQuery:    highlightQuery(ws),
			Encoder:           &html, // the passage is HTML: escape the text
			PreTags:           []string{"<em>"},
			PostTags:          []string{"</em>"},
			FragmentSize:      &frag,
			NumberOfFragments: &one,
			Fields:            map[string]types.HighlightField{},
		}
		for _, f := range highlightFields {
			hl.Fields[f] = types.HighlightField{}
		}
	}
	ctField, bucketField, fs := "content_type", "bucket", facetSize
	req := &search.Request{
		Query:          query,
		Size:           &size,
		Sort:           sortOrder(),
		TrackTotalHits: true,
		Source_:        types.SourceFilter{Includes: []string{"bucket", "key", "size", "content_type", "modified"}},
		Highlight:      hl,
		Aggregations: map[string]types.Aggregations{
			"content_type": {Terms: &types.TermsAggregation{Field: &ctField, Size: &fs}},
			"bucket":       {Terms: &types.TermsAggregation{Field: &bucketField, Size: &fs}},
		},
	}
	if q.PageToken != "" {
		after, err := ix.decodeToken(q, q.PageToken)
		if err != nil {
			return nil, 0, err
		}
		req.SearchAfter = after
	}
	return req, limit, nil
}

// Search answers q.
func (ix *Index) Search(ctx context.Context, q index.Query) (index.Result, error) {
	req, limit, err := ix.searchRequest(q)
	if err != nil {
		return index.Result{}, err
	}
	res, err := ix.es.Search().Index(ix.alias).Request(req).Do(ctx)
	if err != nil {
		return index.Result{}, wrap(ctx, "search", err)
	}
	out := index.Result{Hits: []index.Hit{}, Facets: map[string][]index.Facet{}}
	if res.Hits.Total != nil {
		out.Total = res.Hits.Total.Value
	}
	hits := res.Hits.Hits
	if len(hits) > limit {
		hits = hits[:limit]
		if out.NextPageToken, err = ix.encodeToken(q, hits[limit-1].Sort); err != nil {
			return index.Result{}, fmt.Errorf("elastic: search: %w", err)
		}
	}
	for _, h := range hits {
		var s struct {
			Bucket      string    `json:"bucket"`
			Key         string    `json:"key"`
			Size        int64     `json:"size"`
			ContentType string    `json:"content_type"`
			Modified    time.Time `json:"modified"`
		}
		if err := json.Unmarshal(h.Source_, &s); err != nil {
			return index.Result{}, fmt.Errorf("elastic: search: hit %v: %w", h.Id_, err)
		}
		hit := index.Hit{Bucket: s.Bucket, Key: s.Key, Size: s.Size, ContentType: s.ContentType, Modified: s.Modified}
		for _, f := range highlightFields {
			if frags := h.Highlight[f]; len(frags) > 0 {
				hit.Highlight = frags[0]
				break
			}
		}
		out.Hits = append(out.Hits, hit)
	}
	for _, name := range []string{"content_type", "bucket"} {
		out.Facets[name] = facets(res.Aggregations[name])
	}
	return out, nil
}

// facets reads a terms aggregation, largest first (Elasticsearch's order).
func facets(a types.Aggregate) []index.Facet {
	out := []index.Facet{}
	agg, ok := a.(*types.StringTermsAggregate)
	if !ok {
		return out
	}
	var buckets []types.StringTermsBucket
	switch b := agg.Buckets.(type) {
	case []types.StringTermsBucket:
		buckets = b
	case map[string]types.StringTermsBucket:
		for _, k := range slices.Sorted(maps.Keys(b)) {
			buckets = append(buckets, b[k])
		}
		slices.SortStableFunc(buckets, func(x, y types.StringTermsBucket) int { return int(y.DocCount - x.DocCount) })
	}
	for _, b := range buckets {
		out = append(out, index.Facet{Value: fmt.Sprint(b.Key), Count: b.DocCount})
	}
	return out
}

// Refresh makes every acknowledged write searchable now, rather than at
// the next periodic refresh (tests; see indextest.Refresher).
func (ix *Index) Refresh(ctx context.Context) error {
	if _, err := ix.es.Indices.Refresh().Index(ix.alias).Do(ctx); err != nil {
		return wrap(ctx, "refresh", err)
	}
	return nil
}

// Keys calls fn with the key of every live document of bucket, paging
// with search_after through a point in time.
func (ix *Index) Keys(ctx context.Context, bucket string, fn func(key string) error) error {
	pit, err := ix.es.OpenPointInTime(ix.alias).KeepAlive(pitKeepAlive).Do(ctx)
	if err != nil {
		return wrap(ctx, "keys: open point in time", err)
	}
	id := pit.Id
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := ix.es.ClosePointInTime().Id(id).Do(cctx); err != nil {
			ix.log.Warn("elasticsearch: close point in time", "err", err)
		}
	}()
	asc := sortorder.Asc
	size := keysPage
	var after []types.FieldValue
	for {
		req := &search.Request{
			Pit:  &types.PointInTimeReference{Id: id, KeepAlive: pitKeepAlive},
			Size: &size,
			Query: &types.Query{Bool: &types.BoolQuery{Filter: []types.Query{
				term("bucket", bucket), term("deleted", false),
			}}},
			Sort:           []types.SortCombinations{types.SortOptions{SortOptions: map[string]types.FieldSort{"_shard_doc": {Order: &asc}}}},
			Source_:        types.SourceFilter{Includes: []string{"key"}},
			SearchAfter:    after,
			TrackTotalHits: false,
		}
		res, err := ix.es.Search().Request(req).Do(ctx)
		if err != nil {
			return wrap(ctx, "keys", err)
		}
		if res.PitId != nil {
			id = *res.PitId
		}
		for _, h := range res.Hits.Hits {
			var s struct {
				Key string `json:"key"`
			}
			if err := json.Unmarshal(h.Source_, &s); err != nil {
				return fmt.Errorf("elastic: keys: %w", err)
			}
			if err := fn(s.Key); err != nil {
				return err
			}
		}
		if len(res.Hits.Hits) < size {
			return nil
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
}
