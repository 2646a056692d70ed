// Package identity holds who is making a request: principals, the access
// keys that belong to them, and the root key s3gate bootstraps with.
package identity

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// AuthKind says how a request proved its identity. The policy engine sees it
// as principal.auth.
type AuthKind string

// The ways a request can authenticate.
const (
	AuthSigV4     AuthKind = "sigv4"
	AuthPresigned AuthKind = "presigned"
	AuthJWT       AuthKind = "jwt"
	AuthSTS       AuthKind = "sts"
	AuthAnonymous AuthKind = "anonymous"
)

// Principal is an authenticated caller.
type Principal struct {
	ID          string
	DisplayName string
	Roles       []string
	Groups      []string
	Claims      map[string]any
}

// VerifiedToken is a bearer token (a JWT) that passed verification: its
// signature, issuer, audience and validity period were checked and its
// claims mapped onto a principal.
type VerifiedToken struct {
	// Principal comes from the issuer's claim mapping; its Claims hold
	// every claim of the token.
	Principal Principal
	// Issuer is the name of the configured issuer that accepted the token.
	Issuer string
	// Subject is the token's "sub" claim.
	Subject string
	// ExpiresAt is the token's "exp" claim.
	ExpiresAt time.Time
}

// RoleAdmin is the role that may administer s3gate itself.
const RoleAdmin = "admin"

// AccessKey is a SigV4 key pair and the principal it acts for.
type AccessKey struct {
	ID        string
	Secret    string
	Principal Principal
}

// String names the key and its principal, never its secret: a key printed
// with %v, or logged, must not leak it.
func (k AccessKey) String() string {
	return "access key " + k.ID + " of " + k.Principal.ID
}

// GoString is String, for %#v.
func (k AccessKey) GoString() string { return k.String() }

// LogValue keeps the secret out of structured logs.
func (k AccessKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("principal", k.Principal.ID))
}

// ErrUnknownKey is returned for an access key id that does not exist (or no
// longer works).
var ErrUnknownKey = errors.New("unknown access key")

// Keys is an in-memory key store. The catalogue-backed store replaces it
// once keys can be created at run time; until then it holds the root key.
type Keys struct {
	mu   sync.RWMutex
	keys map[string]AccessKey
}

// NewKeys returns a store holding the given keys.
func NewKeys(keys ...AccessKey) *Keys {
	s := &Keys{keys: make(map[string]AccessKey, len(keys))}
	for _, k := range keys {
		s.keys[k.ID] = k
	}
	return s
}

// Lookup returns the key with the given id, or ErrUnknownKey.
func (s *Keys) Lookup(_ context.Context, id string) (AccessKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[id]
	if !ok {
		return AccessKey{}, ErrUnknownKey
	}
	return k, nil
}
