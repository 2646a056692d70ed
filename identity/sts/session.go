package sts

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/s3gate/s3gate/identity"
)

// Errors of SessionKey. The gateway answers them with S3's InvalidToken and
// ExpiredToken.
var (
	// ErrInvalidToken: the session token does not open (damaged, forged,
	// sealed under a key the keyring lacks), belongs to another access
	// key, or its role is no longer configured.
	ErrInvalidToken = errors.New("sts: invalid session token")
	// ErrExpiredToken: the session is past its expiry.
	ErrExpiredToken = errors.New("sts: expired session token")
)

const (
	// sealPurpose keeps a session token from opening as any other sealed
	// value, and other sealed values from opening as a session.
	sealPurpose    = "s3gate sts session"
	sessionVersion = 1
	// maxSessionBytes bounds a session's JSON, so that its token (about
	// 4/3 of it) fits in a header or a presigned URL. A typical session
	// is a few hundred bytes; groups and claims make up the rest.
	maxSessionBytes = 3 << 10
	// maxSessionToken is the longest token SessionKey decodes: the
	// largest session, sealed and encoded.
	maxSessionToken = (maxSessionBytes+64)*4/3 + 4
)

// session is what a session token seals. Short names keep tokens small.
type session struct {
	Version     int            `json:"v"`
	AccessKeyID string         `json:"ak"`
	Secret      string         `json:"sk"`
	IssuedAt    int64          `json:"iat"`
	Expires     int64          `json:"exp"`
	Role        string         `json:"role"`
	SessionName string         `json:"rsn"`
	Principal   string         `json:"pid"`
	DisplayName string         `json:"dn,omitempty"`
	Issuer      string         `json:"iss"` // the configured issuer's name
	Subject     string         `json:"sub,omitempty"`
	Groups      []string       `json:"grp,omitempty"`
	Claims      map[string]any `json:"clm,omitempty"`
}

func encodeToken(sealed []byte) string { return base64.RawURLEncoding.EncodeToString(sealed) }

// decodeToken accepts only the canonical encoding. The decoder alone would
// skip line breaks and ignore stray low bits of the last character, so
// several texts would decode to one token.
func decodeToken(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || encodeToken(b) != s {
		return nil, false
	}
	return b, true
}

// SessionKey opens a session token issued by AssumeRoleWithWebIdentity and
// returns the key pair it carries, for the SigV4 verifier to check a
// request signed with accessKeyID. The principal is the token's (its id,
// display name, groups and session claims) acting with the roles its role
// grants now.
func (s *Service) SessionKey(accessKeyID, sessionToken string, now time.Time) (identity.AccessKey, error) {
	if len(sessionToken) > maxSessionToken {
		return identity.AccessKey{}, ErrInvalidToken
	}
	sealed, ok := decodeToken(sessionToken)
	if !ok {
		return identity.AccessKey{}, ErrInvalidToken
	}
	plain, err := s.opts.Keyring.Open(sealed, sealPurpose)
	if err != nil {
		return identity.AccessKey{}, ErrInvalidToken
	}
	var sess session
	if err := json.Unmarshal(plain, &sess); err != nil || sess.Version != sessionVersion || sess.AccessKeyID == "" {
		return identity.AccessKey{}, ErrInvalidToken
	}
	if sess.AccessKeyID != accessKeyID {
		return identity.AccessKey{}, ErrInvalidToken
	}
	r := s.byName[sess.Role]
	if r == nil {
		return identity.AccessKey{}, ErrInvalidToken
	}
	if !now.Before(time.Unix(sess.Expires, 0)) {
		return identity.AccessKey{}, ErrExpiredToken
	}
	return identity.AccessKey{
		ID:     sess.AccessKeyID,
		Secret: sess.Secret,
		Principal: identity.Principal{
			ID:          sess.Principal,
			DisplayName: sess.DisplayName,
			Roles:       slices.Clone(r.Roles),
			Groups:      sess.Groups,
			Claims:      sess.Claims,
		},
	}, nil
}
