package bearer

import (
	"context"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestClaimMapping(t *testing.T) {
	tests := []struct {
		name    string
		mapping ClaimMapping
		prefix  string
		extra   map[string]any
		drop    []string
		want    string // principal id; "" means refused
		display string
		roles   []string
		groups  []string
		refused error
	}{
		{
			name: "defaults", want: "hmac:alice", display: "Alice",
			extra: map[string]any{"roles": []any{"reader", "writer"}, "groups": "eng ops"},
			roles: []string{"reader", "writer"}, groups: []string{"eng", "ops"},
		},
		{
			name: "display name falls back to name, then the id",
			drop: []string{"preferred_username"}, extra: map[string]any{"name": "Alice Liddell"},
			want: "hmac:alice", display: "Alice Liddell",
		},
		{
			name: "display name falls back to the id",
			drop: []string{"preferred_username"}, want: "hmac:alice", display: "hmac:alice",
		},
		{
			name:    "nested paths",
			mapping: ClaimMapping{ID: "ext.user.id", DisplayName: "ext.user.name", Roles: "realm_access.roles", Groups: "resource_access.s3gate.groups"},
			extra: map[string]any{
				"ext":             map[string]any{"user": map[string]any{"id": "u-17", "name": "Seventeen"}},
				"realm_access":    map[string]any{"roles": []any{"admin", "reader", "admin", ""}},
				"resource_access": map[string]any{"s3gate": map[string]any{"groups": "a,b, c"}},
				"roles":           []any{"ignored"},
			},
			want: "hmac:u-17", display: "Seventeen", roles: []string{"admin", "reader"}, groups: []string{"a", "b", "c"},
		},
		{
			name:    "claim names containing dots",
			mapping: ClaimMapping{Roles: "https://s3gate.test/roles", Groups: "ns.https://s3gate.test/groups"},
			extra: map[string]any{
				"https://s3gate.test/roles": "reader",
				"ns":                        map[string]any{"https://s3gate.test/groups": []any{"g"}},
			},
			want: "hmac:alice", display: "Alice", roles: []string{"reader"}, groups: []string{"g"},
		},
		{
			name:  "roles as a space and comma separated string",
			extra: map[string]any{"roles": " reader,writer  admin ,\tops "},
			want:  "hmac:alice", display: "Alice", roles: []string{"reader", "writer", "admin", "ops"},
		},
		{
			name: "null roles", extra: map[string]any{"roles": nil},
			want: "hmac:alice", display: "Alice",
		},
		{
			name: "custom id and prefix", mapping: ClaimMapping{ID: "email"}, prefix: "oidc:",
			extra: map[string]any{"email": "alice@s3gate.test"},
			want:  "oidc:alice@s3gate.test", display: "Alice",
		},
		{
			name: "numeric id", mapping: ClaimMapping{ID: "uid"}, extra: map[string]any{"uid": 123456789012},
			want: "hmac:123456789012", display: "Alice",
		},
		{name: "missing id", drop: []string{"sub"}, refused: ErrInvalid},
		{name: "empty id", extra: map[string]any{"sub": ""}, refused: ErrInvalid},
		{name: "fractional numeric id", mapping: ClaimMapping{ID: "uid"}, extra: map[string]any{"uid": 1.5}, refused: ErrInvalid},
		{name: "object id", extra: map[string]any{"sub": map[string]any{"x": "y"}}, refused: ErrInvalid},
		{name: "missing nested id", mapping: ClaimMapping{ID: "ext.user.id"}, extra: map[string]any{"ext": map[string]any{"user": "x"}}, refused: ErrInvalid},
		{name: "roles of the wrong type", extra: map[string]any{"roles": 7}, refused: ErrInvalid},
		{name: "roles with a non-string entry", extra: map[string]any{"roles": []any{"reader", 7}}, refused: ErrInvalid},
		{name: "groups an object", extra: map[string]any{"groups": map[string]any{"eng": true}}, refused: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			v, err := New(context.Background(), []Issuer{{
				Name: "hmac", Issuer: hmacIss, Audiences: []string{aud}, HMACSecret: hmacSecret,
				Claims: tc.mapping, IDPrefix: tc.prefix,
			}}, Options{Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			claims := claimsAt(c.Now(), hmacIss)
			for _, k := range tc.drop {
				delete(claims, k)
			}
			for k, val := range tc.extra {
				claims[k] = val
			}
			vt, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims))
			if tc.refused != nil {
				wantErr(t, err, tc.refused)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := vt.Principal
			if p.ID != tc.want || p.DisplayName != tc.display || !slices.Equal(p.Roles, tc.roles) || !slices.Equal(p.Groups, tc.groups) {
				t.Errorf("principal %q %q roles %q groups %q; want %q %q roles %q groups %q",
					p.ID, p.DisplayName, p.Roles, p.Groups, tc.want, tc.display, tc.roles, tc.groups)
			}
			// Principal.Claims holds every claim of the token.
			for k := range claims {
				if _, ok := p.Claims[k]; !ok {
					t.Errorf("Claims lack %q", k)
				}
			}
			if len(p.Claims) != len(claims) {
				t.Errorf("Claims has %d entries, the token %d", len(p.Claims), len(claims))
			}
		})
	}
}

func TestLookupClaim(t *testing.T) {
	claims := map[string]any{
		"a":     map[string]any{"b": map[string]any{"c": "abc"}},
		"x.y":   map[string]any{"z": "dotted parent"},
		"plain": "p",
	}
	tests := []struct {
		path string
		want any
	}{
		{"plain", "p"},
		{"a.b.c", "abc"},
		{"x.y.z", "dotted parent"},
		{"a.b.d", nil},
		{"plain.more", nil},
		{"", nil},
		{".", nil},
	}
	for _, tc := range tests {
		got, ok := lookupClaim(claims, tc.path)
		if got != tc.want || ok != (tc.want != nil) {
			t.Errorf("lookupClaim(%q) = %v, %v; want %v", tc.path, got, ok, tc.want)
		}
	}
	// The literal name wins at each level: "a" then "b.c".
	if got, _ := lookupClaim(map[string]any{"a": map[string]any{"b.c": "literal"}}, "a.b.c"); got != "literal" {
		t.Errorf("got %v", got)
	}
}
