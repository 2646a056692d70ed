package sts

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// holds reports whether claims satisfy the condition. A missing claim, an
// object, or an array with no allowed element does not.
func (c condition) holds(claims map[string]any) bool {
	v, ok := lookupClaim(claims, c.path)
	if !ok {
		return false
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if s, ok := scalarText(e); ok && slices.Contains(c.allowed, s) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range v {
			if slices.Contains(c.allowed, e) {
				return true
			}
		}
		return false
	}
	s, ok := scalarText(v)
	return ok && slices.Contains(c.allowed, s)
}

// lookupClaim follows a dotted path into nested claims. At each level the
// longest run of segments that names a claim wins, without backtracking:
// "a.b.c" is claims["a.b"]["c"] when "a.b" exists, however "a" looks.
func lookupClaim(claims map[string]any, path string) (any, bool) {
	cur := claims
	rest := path
	for {
		if v, ok := cur[rest]; ok {
			return v, true
		}
		next, found := map[string]any(nil), false
		for i := strings.LastIndexByte(rest, '.'); i > 0; i = strings.LastIndexByte(rest[:i], '.') {
			if v, ok := cur[rest[:i]]; ok {
				next, _ = v.(map[string]any)
				rest, found = rest[i+1:], true
				break
			}
		}
		if !found || next == nil {
			return nil, false
		}
		cur = next
	}
}

// scalarText is a claim's value as a condition compares it: strings as
// they are, booleans and numbers in their JSON form.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", false
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}
