package backendtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// long is a segment too long for a file name once escaped by most schemes.
var long = strings.Repeat("L", 300)

var listingKeys = []string{
	"a", "a-b", "a/", "a/b", "a//b", "a/b/c", "a/b-c", "a/bc", "a/b/", "a0", "ab",
	"b", "b/a/a", "b/a/b", "b/b", "b-/x", "/lead", "//x",
	"c/d/e/f/g/h", "c/d/e/f/g/i", "c/d/x", "c/d/e/f/g/h/i/j/k",
	"ü", "ü/x", "üb/er", "日本/語", "日本/語/x", "emoji/🎉", "z\x00nul", "z/\x00",
	"%2F/enc", "~t", "A", "Z/z",
	long, long + "x", long + "/x", long + "/y", long + "/" + long,
}

// modelEntry is one line of an expected listing page.
type modelEntry struct {
	name   string
	prefix bool
}

type modelPage struct {
	entries   []modelEntry
	truncated bool
	next      string
}

// model lists keys the way S3 does: sort, filter by prefix and StartAfter,
// roll up at the first delimiter after the prefix, cut at MaxKeys.
func model(keys []string, o backends.ListOptions) modelPage {
	var p modelPage
	if o.MaxKeys <= 0 {
		return p
	}
	keys = slices.Sorted(slices.Values(keys))
	var all []modelEntry
	lastCP := ""
	for _, k := range keys {
		if !strings.HasPrefix(k, o.Prefix) || k <= o.StartAfter {
			continue
		}
		if o.Delimiter != "" {
			rest := k[len(o.Prefix):]
			if i := strings.Index(rest, o.Delimiter); i >= 0 {
				cp := o.Prefix + rest[:i+len(o.Delimiter)]
				if cp != o.StartAfter && cp != lastCP {
					all = append(all, modelEntry{cp, true})
					lastCP = cp
				}
				continue
			}
		}
		all = append(all, modelEntry{name: k})
	}
	if len(all) > o.MaxKeys {
		p.truncated = true
		all = all[:o.MaxKeys]
		p.next = all[len(all)-1].name
	}
	p.entries = all
	return p
}

// comparePage checks a page against the model, and each listed object's
// size and ETag against infos.
func comparePage(got backends.ListPage, want modelPage, infos map[string]backends.ObjectInfo) error {
	var wantObjs, wantCPs []string
	for _, e := range want.entries {
		if e.prefix {
			wantCPs = append(wantCPs, e.name)
		} else {
			wantObjs = append(wantObjs, e.name)
		}
	}
	var gotObjs []string
	for _, o := range got.Objects {
		gotObjs = append(gotObjs, o.Key)
		if w, ok := infos[o.Key]; ok && (o.Size != w.Size || o.ETag != w.ETag || o.LastModified.IsZero()) {
			return fmt.Errorf("object %q listed as size %d ETag %q time %v, want size %d ETag %q",
				o.Key, o.Size, o.ETag, o.LastModified, w.Size, w.ETag)
		}
	}
	switch {
	case !slices.Equal(gotObjs, wantObjs):
		return fmt.Errorf("objects = %q, want %q", gotObjs, wantObjs)
	case !slices.Equal(got.CommonPrefixes, wantCPs):
		return fmt.Errorf("common prefixes = %q, want %q", got.CommonPrefixes, wantCPs)
	case got.IsTruncated != want.truncated:
		return fmt.Errorf("IsTruncated = %v, want %v", got.IsTruncated, want.truncated)
	case got.NextStartAfter != want.next:
		return fmt.Errorf("NextStartAfter = %q, want %q", got.NextStartAfter, want.next)
	}
	return nil
}

// putListingKeys fills a bucket with the listing keys the backend can
// hold, each with a different body, and returns those keys.
func putListingKeys(t *testing.T, b backends.Backend, bkt string) ([]string, map[string]backends.ObjectInfo) {
	createBucket(t, b, bkt)
	keys := storableKeys(b, listingKeys)
	infos := make(map[string]backends.ObjectInfo)
	for i, k := range keys {
		infos[k] = put(t, b, bkt, k, []byte(strings.Repeat("x", i)))
	}
	return keys, infos
}

var (
	listPrefixes = []string{"", "a", "a/", "a/b", "a/b/", "a-", "b", "b/", "b/a", "c/d/", "c/d/e/f/g/h/",
		"ü", "日本/", long[:100], long, long + "/", "/", "z", "nope", "~"}
	listDelimiters = []string{"", "/", "-", "b", "//", "ü", "/b", "L"}
)

func testListing(t *testing.T, b backends.Backend) {
	const bkt = "bt-listing"
	keys, infos := putListingKeys(t, b, bkt)
	startAfters := []string{"", "a", "a/", "a/b", "a/b/", "a0", "b/", "b/a/", "c/d/e/", "ü", long,
		long + "/", "zzz", "\U0010FFFF", "..", "a/b/c/zzz", "Z/"}
	// One subtest per delimiter, in parallel: a remote backend answers
	// thousands of listings faster side by side.
	for _, delim := range listDelimiters {
		t.Run("delimiter "+strconv.Quote(delim), func(t *testing.T) {
			t.Parallel()
			failures := 0
			for _, prefix := range listPrefixes {
				for _, sa := range startAfters {
					for _, max := range []int{0, 1, 2, 1000} {
						o := backends.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: sa, MaxKeys: max}
						got, err := b.ListObjects(t.Context(), bkt, o)
						if err == nil {
							err = comparePage(got, model(keys, o), infos)
						}
						if err != nil {
							t.Errorf("ListObjects(prefix %q, delimiter %q, start after %q, max keys %d): %v", o.Prefix, o.Delimiter, o.StartAfter, o.MaxKeys, err)
							if failures++; failures > 10 {
								t.FailNow()
							}
						}
					}
				}
			}
		})
	}
}

// testListingPages pages through every prefix and delimiter with every
// page size, resuming from NextStartAfter, and checks each page.
func testListingPages(t *testing.T, b backends.Backend) {
	const bkt = "bt-pages"
	keys, infos := putListingKeys(t, b, bkt)
	for _, delim := range listDelimiters {
		t.Run("delimiter "+strconv.Quote(delim), func(t *testing.T) {
			t.Parallel()
			failures := 0
			for _, prefix := range listPrefixes {
				full := model(keys, backends.ListOptions{Prefix: prefix, Delimiter: delim, MaxKeys: len(keys) + 1})
				for size := 1; size <= len(full.entries)+1; size++ {
					if err := pageThrough(t, b, bkt, keys, backends.ListOptions{Prefix: prefix, Delimiter: delim, MaxKeys: size}, full, infos); err != nil {
						t.Errorf("prefix %q delimiter %q page size %d: %v", prefix, delim, size, err)
						if failures++; failures > 10 {
							t.FailNow()
						}
					}
				}
			}
		})
	}
}

func pageThrough(t *testing.T, b backends.Backend, bkt string, keys []string, o backends.ListOptions, full modelPage, infos map[string]backends.ObjectInfo) error {
	var seen []modelEntry
	for pages := 0; ; pages++ {
		if pages > len(full.entries)+1 {
			return fmt.Errorf("listing does not end")
		}
		got, err := b.ListObjects(t.Context(), bkt, o)
		if err != nil {
			return err
		}
		if err := comparePage(got, model(keys, o), infos); err != nil {
			return fmt.Errorf("page %d (start after %q): %v", pages, o.StartAfter, err)
		}
		seen = append(seen, model(keys, o).entries...)
		if !got.IsTruncated {
			break
		}
		o.StartAfter = got.NextStartAfter
	}
	if !slices.Equal(seen, full.entries) {
		return fmt.Errorf("pages joined = %v, want %v", seen, full.entries)
	}
	return nil
}
