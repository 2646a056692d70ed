package bearer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/s3gate/s3gate/identity"
)

func (m ClaimMapping) withDefaults() ClaimMapping {
	if m.ID == "" {
		m.ID = "sub"
	}
	if m.Roles == "" {
		m.Roles = "roles"
	}
	if m.Groups == "" {
		m.Groups = "groups"
	}
	return m
}

// principal builds the principal of a verified token's claims. The claims
// map becomes Principal.Claims as it is (numbers are float64, as
// encoding/json decodes them).
func (m ClaimMapping) principal(claims map[string]any, idPrefix string) (identity.Principal, error) {
	v, _ := lookupClaim(claims, m.ID)
	id, ok := idString(v)
	if !ok || id == "" {
		return identity.Principal{}, fmt.Errorf("%w: no usable %s claim for the principal id", ErrInvalid, quote(m.ID))
	}
	p := identity.Principal{ID: idPrefix + id, Claims: claims}

	names := []string{"preferred_username", "name"}
	if m.DisplayName != "" {
		names = []string{m.DisplayName}
	}
	for _, path := range names {
		if s, _ := lookupString(claims, path); s != "" {
			p.DisplayName = s
			break
		}
	}
	if p.DisplayName == "" {
		p.DisplayName = p.ID
	}

	var err error
	if p.Roles, err = stringList(claims, m.Roles); err != nil {
		return identity.Principal{}, err
	}
	if p.Groups, err = stringList(claims, m.Groups); err != nil {
		return identity.Principal{}, err
	}
	return p, nil
}

// lookupClaim follows a dotted path into nested objects. At each level the
// whole remaining path is tried as a claim name first, then split at each
// dot in turn, so names that contain dots (URLs as claim names) work.
func lookupClaim(obj map[string]any, path string) (any, bool) {
	if v, ok := obj[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if inner, ok := obj[path[:i]].(map[string]any); ok {
			if v, ok := lookupClaim(inner, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

func lookupString(obj map[string]any, path string) (string, bool) {
	v, _ := lookupClaim(obj, path)
	s, ok := v.(string)
	return s, ok
}

// idString accepts a string or an integral number: some issuers use numeric
// user ids.
func idString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10), true
		}
	}
	return "", false
}

// stringList reads a roles or groups claim: an array of strings, or one
// string of space or comma separated values. Empty entries and repeats are
// dropped. A claim of any other shape is refused rather than ignored, since
// groups may drive deny rules.
func stringList(claims map[string]any, path string) ([]string, error) {
	v, ok := lookupClaim(claims, path)
	if !ok || v == nil {
		return nil, nil
	}
	var items []string
	switch v := v.(type) {
	case string:
		items = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: claim %s holds a non-string entry", ErrInvalid, quote(path))
			}
			items = append(items, s)
		}
	default:
		return nil, fmt.Errorf("%w: claim %s is neither a string nor an array of strings", ErrInvalid, quote(path))
	}
	var out []string
	seen := make(map[string]bool, len(items))
	for _, s := range items {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}
