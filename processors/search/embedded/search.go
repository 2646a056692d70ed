package embedded

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/s3gate/s3gate/internal/sqlstore"
	"github.com/s3gate/s3gate/processors/search/index"
)

const (
	// scoredWords of a query's words (at most index.MaxWords) count in
	// the score; the others only have to match.
	scoredWords = 8
	// facetValues is the most values a facet lists.
	facetValues = 20
	// snippetTokens is the length of a highlight, in words.
	snippetTokens = 12
	// The highlight markers snippet() puts around matches, replaced by
	// <em> and </em> once the passage is HTML-escaped. Indexed text never
	// holds them (see plain).
	markOpen  = "\x02"
	markClose = "\x03"
	// keysBatch is how many keys Keys reads per query.
	keysBatch = 1000
)

// Search answers q: see the package comment for the order of hits.
func (ix *Index) Search(ctx context.Context, q index.Query) (index.Result, error) {
	if ix.closed.Load() {
		return index.Result{}, errClosed
	}
	limit := q.Limit
	if limit == 0 {
		limit = index.DefaultLimit
	}
	if limit < 0 || limit > index.MaxLimit {
		return index.Result{}, fmt.Errorf("%w: limit %d is not 1 to %d", index.ErrInvalidQuery, q.Limit, index.MaxLimit)
	}
	words, err := queryWords(q.Text)
	if err != nil {
		return index.Result{}, err
	}
	conds, condArgs, none, err := filters(q)
	if err != nil {
		return index.Result{}, err
	}
	qh := queryHash(q)
	var after *cursor
	if q.PageToken != "" {
		c, err := ix.decodeToken(q.PageToken, qh)
		if err != nil {
			return index.Result{}, err
		}
		after = &c
	}
	res := index.Result{Hits: []index.Hit{}, Facets: map[string][]index.Facet{"content_type": {}, "bucket": {}}}
	if none {
		return res, nil
	}

	// What matches: the words (each a quoted FTS5 string, so never
	// syntax, matching as a prefix), the grants and the filters.
	from := "docs d"
	where := []string{"d.deleted = 0"}
	var matchArgs []any
	match := ""
	if len(words) > 0 {
		phrases := make([]string, len(words))
		for i, w := range words {
			phrases[i] = phrase(w) + "*"
		}
		match = strings.Join(phrases, " ")
		from = "fts CROSS JOIN docs d ON d.n = fts.rowid"
		where = append(where, "fts MATCH ?")
		matchArgs = append(matchArgs, match)
	}
	where = append(where, conds...)
	matchArgs = append(matchArgs, condArgs...)
	whereSQL := strings.Join(where, " AND ")

	// One read transaction: the page, the total and the facets agree.
	tx, err := ix.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return index.Result{}, fail(ctx, "search", err)
	}
	defer tx.Rollback()

	var page string
	var args []any
	if len(words) == 0 {
		page = "SELECT d.n, d.bucket, d.key, d.size, d.content_type, d.modified, 0 FROM docs d WHERE " + whereSQL
		args = matchArgs
		if after != nil {
			page += " AND (d.bucket, d.key) > (?, ?)"
			args = append(args, after.bucket, after.key)
		}
		page += " ORDER BY d.bucket, d.key LIMIT ?"
	} else {
		score := scoreExpr(words, &args)
		// Materialized, so that the score is computed once a row, not
		// again for the keyset condition and the order.
		page = "WITH m AS MATERIALIZED (SELECT d.n, d.bucket, d.key, d.size, d.content_type, d.modified, " +
			score + " AS score FROM " + from + " WHERE " + whereSQL + ") SELECT n, bucket, key, size, content_type, modified, score FROM m"
		args = append(args, matchArgs...)
		if after != nil {
			page += " WHERE (-score, bucket, key) > (?, ?, ?)"
			args = append(args, -after.score, after.bucket, after.key)
		}
		page += " ORDER BY -score, bucket, key LIMIT ?"
	}
	args = append(args, limit+1)
	rows, err := tx.QueryContext(ctx, page, args...)
	if err != nil {
		return index.Result{}, fail(ctx, "search", err)
	}
	var ns []int64
	var last cursor
	for rows.Next() {
		var n int64
		var h index.Hit
		var modified sql.NullInt64
		var score int64
		if err := rows.Scan(&n, &h.Bucket, &h.Key, &h.Size, &h.ContentType, &modified, &score); err != nil {
			rows.Close()
			return index.Result{}, fail(ctx, "search", err)
		}
		if len(res.Hits) == limit {
			res.NextPageToken = ix.encodeToken(qh, last)
			break
		}
		if modified.Valid {
			h.Modified = time.UnixMicro(modified.Int64).UTC()
		}
		res.Hits = append(res.Hits, h)
		ns = append(ns, n)
		last = cursor{score: score, bucket: h.Bucket, key: h.Key}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return index.Result{}, fail(ctx, "search", err)
	}

	if len(words) > 0 && len(ns) > 0 {
		snips, err := snippets(ctx, tx, match, ns)
		if err != nil {
			return index.Result{}, fail(ctx, "search", err)
		}
		for i, n := range ns {
			res.Hits[i].Highlight = snips[n]
		}
	}

	// Total and facets: one pass over every match, grouped by bucket and
	// content type.
	rows, err = tx.QueryContext(ctx, "SELECT d.bucket, d.content_type, count(*) FROM "+from+" WHERE "+whereSQL+
		" GROUP BY d.bucket, d.content_type", matchArgs...)
	if err != nil {
		return index.Result{}, fail(ctx, "search", err)
	}
	defer rows.Close()
	byBucket, byType := map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var bucket, ct string
		var count int64
		if err := rows.Scan(&bucket, &ct, &count); err != nil {
			return index.Result{}, fail(ctx, "search", err)
		}
		byBucket[bucket] += count
		byType[ct] += count
		res.Total += count
	}
	if err := rows.Err(); err != nil {
		return index.Result{}, fail(ctx, "search", err)
	}
	res.Facets["bucket"] = facets(byBucket)
	res.Facets["content_type"] = facets(byType)
	return res, nil
}

// scoreExpr is the score of a matching row (d.n): for each word, 6 when
// it is a word of the key, 4 when a word of the key starts with it, 2 when
// it matches a metadata or tag value, 1 otherwise (it matched the text).
// Each IN subquery is run once per statement.
func scoreExpr(words []string, args *[]any) string {
	const in = "d.n IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
	var parts []string
	for i, w := range words {
		if i == scoredWords {
			parts = append(parts, strconv.Itoa(len(words)-i))
			break
		}
		p := phrase(w)
		parts = append(parts, "CASE WHEN "+in+" THEN 6 WHEN "+in+" THEN 4 WHEN "+in+" THEN 2 ELSE 1 END")
		*args = append(*args, "{words} : "+p, "{words} : "+p+"*", "{meta tags} : "+p+"*")
	}
	return "(" + strings.Join(parts, " + ") + ")"
}

// snippets returns the highlight of each row of ns: a passage of its best
// column, HTML-escaped, with the matches in <em>...</em>. One statement:
// given "rowid IN (...)", SQLite would run the match once per rowid, and
// FTS5 would expand each prefix as often; the range is what FTS5 sees,
// the unary + keeps the IN a mere filter.
func snippets(ctx context.Context, tx *sql.Tx, match string, ns []int64) (map[int64]string, error) {
	args := []any{markOpen, markClose, match, slices.Min(ns), slices.Max(ns)}
	for _, n := range ns {
		args = append(args, n)
	}
	rows, err := tx.QueryContext(ctx, "SELECT rowid, snippet(fts, -1, ?, ?, '…', "+strconv.Itoa(snippetTokens)+
		") FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN (?"+strings.Repeat(", ?", len(ns)-1)+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64]string, len(ns))
	r := strings.NewReplacer(markOpen, "<em>", markClose, "</em>")
	for rows.Next() {
		var n int64
		var s string
		if err := rows.Scan(&n, &s); err != nil {
			return nil, err
		}
		out[n] = r.Replace(html.EscapeString(s))
	}
	return out, rows.Err()
}

func facets(m map[string]int64) []index.Facet {
	out := make([]index.Facet, 0, len(m))
	for v, c := range m {
		out = append(out, index.Facet{Value: v, Count: c})
	}
	slices.SortFunc(out, func(a, b index.Facet) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
	})
	if len(out) > facetValues {
		out = out[:facetValues]
	}
	return out
}

// queryWords splits text into words (index.QueryWords) as FTS5's
// unicode61 tokenizer does, which also keeps private-use characters.
func queryWords(text string) ([]string, error) {
	return index.QueryWords(text, func(r rune) bool { return index.IsWordRune(r) || unicode.Is(unicode.Co, r) })
}

// phrase quotes a word as an FTS5 string; words hold no quotes.
func phrase(w string) string { return `"` + strings.ReplaceAll(w, `"`, `""`) + `"` }

// filters renders q's grants and filters as SQL conditions on docs d.
// none is true when q can select nothing (no grant reaches its bucket and
// prefix).
func filters(q index.Query) (conds []string, args []any, none bool, err error) {
	if len(q.Readable) == 0 {
		return nil, nil, false, fmt.Errorf("%w: no read grants given", index.ErrInvalidQuery)
	}
	texts := []string{q.Bucket, q.Prefix, q.ContentType}
	for _, g := range q.Readable {
		texts = append(texts, g.Bucket, g.Prefix)
	}
	for k, v := range q.Tags {
		texts = append(texts, k, v)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return nil, nil, false, fmt.Errorf("%w: text is not UTF-8", index.ErrInvalidQuery)
		}
	}

	// The grants that can reach documents the other conditions select.
	var grants []string
	all := false
	for _, g := range q.Readable {
		switch {
		case g.Bucket == "":
			return nil, nil, false, fmt.Errorf("%w: read grant without a bucket", index.ErrInvalidQuery)
		case g.Bucket != "*" && q.Bucket != "" && g.Bucket != q.Bucket:
			continue
		case strings.HasPrefix(q.Prefix, g.Prefix):
			g.Prefix = "" // the filter's own prefix is narrower
		case !strings.HasPrefix(g.Prefix, q.Prefix):
			continue // disjoint prefixes
		}
		if all {
			continue
		}
		var gc []string
		if g.Bucket != "*" {
			gc = append(gc, "d.bucket = ?")
			args = append(args, g.Bucket)
		}
		if g.Prefix != "" {
			gc = append(gc, prefixRange("d.key", g.Prefix, &args))
		}
		if len(gc) == 0 {
			all = true
			continue
		}
		grants = append(grants, "("+strings.Join(gc, " AND ")+")")
	}
	switch {
	case all:
		args = nil // the grants restrict nothing
	case len(grants) == 0:
		return nil, nil, true, nil
	default:
		conds = append(conds, "("+strings.Join(grants, " OR ")+")")
	}

	if q.Bucket != "" {
		conds = append(conds, "d.bucket = ?")
		args = append(args, q.Bucket)
	}
	if q.Prefix != "" {
		conds = append(conds, prefixRange("d.key", q.Prefix, &args))
	}
	if ct := mediaType(q.ContentType); ct != "" && ct != "*" && ct != "*/*" {
		if typ, ok := strings.CutSuffix(ct, "/*"); ok {
			conds = append(conds, prefixRange("d.content_type", typ+"/", &args))
		} else {
			conds = append(conds, "d.content_type = ?")
			args = append(args, ct)
		}
	}
	if q.MinSize != nil {
		conds = append(conds, "d.size >= ?")
		args = append(args, *q.MinSize)
	}
	if q.MaxSize != nil {
		conds = append(conds, "d.size <= ?")
		args = append(args, *q.MaxSize)
	}
	if !q.ModifiedAfter.IsZero() {
		conds = append(conds, "d.modified > ?")
		args = append(args, q.ModifiedAfter.UnixMicro())
	}
	for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
		conds = append(conds, "EXISTS (SELECT 1 FROM doc_tags t WHERE t.n = d.n AND t.k = ? AND t.v = ?)")
		args = append(args, k, q.Tags[k])
	}
	return conds, args, false, nil
}

// prefixRange is the condition "col starts with p" as a byte-order range,
// answered from an index and, unlike LIKE, without metacharacters or case
// folding.
func prefixRange(col, p string, args *[]any) string {
	*args = append(*args, p)
	cond := col + " >= ?"
	if end, ok := sqlstore.PrefixEnd(p); ok {
		*args = append(*args, end)
		cond += " AND " + col + " < ?"
	}
	return cond
}

// Keys calls fn with the key of every live document of bucket, in key
// order. It reads in batches and holds no read transaction while fn runs,
// so fn may write to the index.
func (ix *Index) Keys(ctx context.Context, bucket string, fn func(key string) error) error {
	if ix.closed.Load() {
		return errClosed
	}
	after := ""
	for {
		rows, err := ix.r.QueryContext(ctx, "SELECT key FROM docs WHERE bucket = ? AND key > ? AND deleted = 0 ORDER BY key LIMIT ?",
			bucket, after, keysBatch)
		if err != nil {
			return fail(ctx, "keys", err)
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fail(ctx, "keys", err)
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(ctx, "keys", err)
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < keysBatch {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

// cursor is the position of a page's last hit.
type cursor struct {
	score       int64
	bucket, key string
}

const tokenVersion = 1

// queryHash identifies what a query selects, apart from the grants (a
// token stays usable when the caller's permissions change; they are
// applied afresh on every page) and the page size.
func queryHash(q index.Query) []byte {
	var after int64
	if !q.ModifiedAfter.IsZero() {
		after = q.ModifiedAfter.UnixMicro()
	}
	b, _ := json.Marshal(struct {
		Text, Bucket, Prefix, ContentType string
		MinSize, MaxSize                  *int64
		ModifiedAfter                     int64
		Tags                              map[string]string
	}{q.Text, q.Bucket, q.Prefix, q.ContentType, q.MinSize, q.MaxSize, after, q.Tags})
	sum := sha256.Sum256(b)
	return sum[:16]
}

// encodeToken renders c as a page token of the query hashed qh: version,
// query hash, score, bucket and key, then an HMAC of it all.
func (ix *Index) encodeToken(qh []byte, c cursor) string {
	b := []byte{tokenVersion}
	b = append(b, qh...)
	b = binary.AppendVarint(b, c.score)
	b = binary.AppendUvarint(b, uint64(len(c.bucket)))
	b = append(b, c.bucket...)
	b = append(b, c.key...)
	m := hmac.New(sha256.New, ix.tokenKey)
	m.Write(b)
	b = m.Sum(b)[:len(b)+16]
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken checks and reads a page token of the query hashed qh.
func (ix *Index) decodeToken(tok string, qh []byte) (cursor, error) {
	bad := fmt.Errorf("%w: bad page token", index.ErrInvalidQuery)
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+16+16 {
		return cursor{}, bad
	}
	body, sum := b[:len(b)-16], b[len(b)-16:]
	m := hmac.New(sha256.New, ix.tokenKey)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:16], sum) || body[0] != tokenVersion {
		return cursor{}, bad
	}
	if !bytes.Equal(body[1:17], qh) {
		return cursor{}, fmt.Errorf("%w: page token of another query", index.ErrInvalidQuery)
	}
	rest := body[17:]
	score, n := binary.Varint(rest)
	if n <= 0 {
		return cursor{}, bad
	}
	rest = rest[n:]
	bl, n := binary.Uvarint(rest)
	if n <= 0 || bl > uint64(len(rest)-n) {
		return cursor{}, bad
	}
	rest = rest[n:]
	return cursor{score: score, bucket: string(rest[:bl]), key: string(rest[bl:])}, nil
}
