// Package index is the contract between s3gate's search hook and the
// indexes that serve it: the document kept per object, the query the
// search API asks, and the Index interface that the embedded index
// (processors/search/embedded, SQLite FTS5 in the data dir) and the
// Elasticsearch one (processors/search/elastic) implement alike. The
// shared test suite both must pass is in indextest.
package index

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Document is what the index keeps of one object.
type Document struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Sequencer is the sequencer of the event the document was made for;
	// a document or delete with a smaller one never replaces it.
	Sequencer string `json:"sequencer"`
	// Words are the searchable words of the key: its path segments and
	// file-name words (see KeyWords), space separated.
	Words string `json:"words"`
	// Ext is the file extension, lower case, without the dot ("" if none).
	Ext  string `json:"ext,omitempty"`
	Size int64  `json:"size"`
	// ContentType is the media type sniffed from the first bytes, or the
	// declared one when sniffing found nothing better; no parameters.
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
	Created     time.Time `json:"created,omitzero"`
	Owner       string    `json:"owner,omitempty"`
	// Metadata is the user metadata (names without x-amz-meta-).
	Metadata map[string]string `json:"metadata,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	// Image facts from the catalogue, when the object is an image.
	Image *Image `json:"image,omitempty"`
	// Text is the extracted text of a small text-like object (plain text,
	// Markdown, CSV, JSON, HTML without markup), capped.
	Text string `json:"text,omitempty"`
}

// Image holds what the image hook found in an image.
type Image struct {
	Width   int       `json:"width"`
	Height  int       `json:"height"`
	Camera  string    `json:"camera,omitempty"` // make and model
	TakenAt time.Time `json:"taken_at,omitzero"`
}

// Grant is where a caller may read: a bucket ("*" for every bucket) and a
// key prefix in it ("" for all of it). Hits outside every grant are never
// returned.
type Grant struct {
	Bucket string
	Prefix string
}

// Query is one search.
type Query struct {
	// Text is the user's words; every word must match (in the key's
	// words, the extracted text, metadata or tag values). A query word
	// matches a document word equal to it or starting with it ("rep"
	// finds "report"; "port" does not), ignoring case. Words are runs of
	// letters and digits: anything else (quotes, *, -, :, parentheses)
	// only separates them, and AND, OR, NOT and NEAR are words like any
	// other; the text is never query syntax, and never an error for it.
	// Empty, or without words, matches every document.
	Text string
	// Filters; zero values filter nothing.
	Bucket        string
	Prefix        string
	ContentType   string // image/png, or image/* for the type
	MinSize       *int64
	MaxSize       *int64
	ModifiedAfter time.Time
	Tags          map[string]string // every tag must be set to the value
	// Readable are the caller's grants, and are required: a query without
	// any is ErrInvalidQuery, never "everything".
	Readable []Grant
	// Limit is the page size, 1 to MaxLimit (0 means DefaultLimit).
	Limit int
	// PageToken continues an earlier search with the same query.
	PageToken string
}

// Page sizes, and the most words a query may have.
const (
	DefaultLimit = 20
	MaxLimit     = 1000
	MaxWords     = 32
)

// Hit is one found object.
type Hit struct {
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
	// Highlight is a short passage of what matched, HTML-escaped, with
	// matches in <em>...</em> (the only markup in it, so a page may insert
	// it as HTML); empty when the query had no words.
	Highlight string `json:"highlight,omitempty"`
}

// Facet is one value of a field and how many matching documents have it.
type Facet struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Result is one page of a search.
type Result struct {
	Hits []Hit `json:"hits"`
	// Total is the number of matching documents (all pages).
	Total int64 `json:"total"`
	// Facets count the matching documents by "content_type" and by
	// "bucket", largest first.
	Facets map[string][]Facet `json:"facets"`
	// NextPageToken is set when more hits follow. Pages are ordered by
	// relevance then bucket and key; a token stays valid while the index
	// changes (the next page starts after the last hit's position).
	NextPageToken string `json:"next_page_token,omitempty"`
}

// Errors.
var (
	// ErrInvalidQuery: a query that cannot be run (no grants, a bad
	// limit, a forged page token, unparsable words).
	ErrInvalidQuery = errors.New("search: invalid query")
	// ErrUnavailable: the index cannot be reached; retry later.
	ErrUnavailable = errors.New("search: index unavailable")
)

// Index stores documents and answers queries. Implementations are safe
// for concurrent use.
type Index interface {
	// Put stores doc, unless a document or delete with a greater
	// sequencer has been applied to its bucket and key.
	Put(ctx context.Context, doc Document) error
	// Delete removes the document of bucket/key as of seq, and remembers
	// seq so that a late Put of an older sequencer cannot bring it back.
	Delete(ctx context.Context, bucket, key, seq string) error
	// Search answers q.
	Search(ctx context.Context, q Query) (Result, error)
	// Keys calls fn with the key of every document of bucket, in any
	// order (reindex uses it to find documents whose objects are gone).
	Keys(ctx context.Context, bucket string, fn func(key string) error) error
	Close() error
}

// ID is a document's id: short, URL-safe and fixed for bucket and key
// (Elasticsearch ids are at most 512 bytes; S3 keys reach 1,024).
func ID(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// KeyWords returns the searchable words of a key: every path segment as
// it is, and the words of each segment split on "/", "_", "-", ".",
// spaces and case changes (fooBar -> foo bar, HTMLFile -> html file),
// lower-cased, without repeats.
func KeyWords(key string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		w = strings.ToLower(w)
		if w != "" && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		add(seg)
		for part := range strings.FieldsFuncSeq(seg, func(r rune) bool {
			return r == '_' || r == '-' || r == '.' || unicode.IsSpace(r)
		}) {
			for _, w := range splitCase(part) {
				add(w)
			}
		}
	}
	return out
}

// splitCase splits fooBar into foo, Bar; HTMLFile into HTML, File; and
// letters from digits (IMG2024 into IMG, 2024).
func splitCase(s string) []string {
	rs := []rune(s)
	var out []string
	start := 0
	for i := 1; i < len(rs); i++ {
		prev, cur := rs[i-1], rs[i]
		var next rune
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case unicode.IsLower(prev) && unicode.IsUpper(cur),
			unicode.IsLetter(prev) && unicode.IsDigit(cur),
			unicode.IsDigit(prev) && unicode.IsLetter(cur),
			unicode.IsUpper(prev) && unicode.IsUpper(cur) && unicode.IsLower(next):
			out = append(out, string(rs[start:i]))
			start = i
		}
	}
	return append(out, string(rs[start:]))
}

// Ext returns a key's file extension, lower case, without the dot.
func Ext(key string) string {
	name := key[strings.LastIndex(key, "/")+1:]
	i := strings.LastIndex(name, ".")
	if i <= 0 || i == len(name)-1 {
		return ""
	}
	return strings.ToLower(name[i+1:])
}

// QueryWords splits the user's text into the words every hit must
// contain: runs of runes for which word holds, with at least one rune that
// is not a mark; everything else separates them, so nothing the user typed
// is query syntax. Repeats (ignoring case) are dropped. More than MaxWords
// is ErrInvalidQuery. Each index passes the word runes of its own
// tokenizer (see IsWordRune).
func QueryWords(text string, word func(rune) bool) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !word(r) }) {
		if !strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsMark(r) }) {
			continue
		}
		if l := strings.ToLower(w); !seen[l] {
			seen[l] = true
			out = append(out, w)
		}
	}
	if len(out) > MaxWords {
		return nil, fmt.Errorf("%w: more than %d words", ErrInvalidQuery, MaxWords)
	}
	return out, nil
}

// IsWordRune reports whether r belongs to a word: a letter, digit or mark.
func IsWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) }
