// Package sts implements AssumeRoleWithWebIdentity as AWS STS defines it:
// a client trades a bearer token (a JWT from a configured issuer) for
// temporary SigV4 credentials that act as a configured role.
//
// The credentials are self-contained. The session token is the session
// itself (access key id, secret, principal, expiry), sealed with the
// master keyring, so every replica that holds the keyring verifies it
// without shared state; nothing is stored when a session is issued.
//
// A session's principal is the token's: the id and display name the
// issuer's claim mapping gave it, its groups, and the claims named by
// Options.SessionClaims, so what a user owns through a session is the
// user's. Its roles are the assumed role's. As at AWS, a session may
// outlive the token it was issued for.
//
// Differences from AWS, on purpose:
//
//   - RoleArn must equal a configured role's ARN exactly (by default
//     arn:aws:iam::ACCOUNT:role/NAME); a bare role name or another account
//     is AccessDenied.
//   - Session policies (Policy, PolicyArns) and ProviderId are refused with
//     ValidationError: s3gate cannot narrow a session by policy, and
//     ignoring them would hand out more access than the client asked for.
//   - The session's permissions follow the role's current configuration:
//     a session acts with the roles its role grants when it is used, and
//     stops working if its role is removed.
package sts

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/seal"
)

// TokenVerifier checks a bearer token: signature, issuer, audience and
// validity period. identity/bearer implements it.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (identity.VerifiedToken, error)
}

// Role is a role a web identity may assume.
type Role struct {
	// Name is the role's name: 1 to 64 characters of [\w+=,.@-].
	Name string
	// ARN is what clients pass as RoleArn, compared exactly. Empty means
	// arn:aws:iam::ACCOUNT:role/NAME, ACCOUNT being Options.Account.
	ARN string
	// Issuers names the bearer-token issuers whose tokens may assume the
	// role. At least one.
	Issuers []string
	// Conditions must all hold for a token to assume the role: each maps
	// a claim path to its allowed values. A path is dotted into nested
	// claims ("realm_access.roles"); at each level the longest run of
	// segments that names a claim is taken, so a claim whose name holds
	// dots ("https://example.com/groups") is found too. A claim that is
	// an array holds when any element is allowed. Numbers and booleans
	// compare in their JSON form ("42", "true").
	Conditions map[string][]string
	// Roles are the roles the session's principal acts with.
	Roles []string
	// MaxDuration caps the sessions of the role, from 15 minutes to 12
	// hours. 0 means one hour, as AWS.
	MaxDuration time.Duration
}

// Options configure a Service.
type Options struct {
	Roles    []Role
	Verifier TokenVerifier
	// Keyring seals session tokens. Every replica needs the same keys.
	Keyring *seal.Keyring
	// ExpiredErr is the error the verifier returns (matched with
	// errors.Is) for a token past its expiry; such a token is answered
	// with ExpiredTokenException.
	ExpiredErr error
	// UnreachableErr is the error the verifier returns when it cannot
	// reach the token's issuer (to fetch its keys); such a failure is
	// answered with IDPCommunicationError, which clients retry.
	// Every other verifier error is InvalidIdentityToken.
	UnreachableErr error
	// MaxDuration caps every session, from 15 minutes to 12 hours. 0
	// means 12 hours.
	MaxDuration time.Duration
	// DefaultDuration is the length of a session whose request has no
	// DurationSeconds, shortened to the role's cap when that is lower.
	// 0 means one hour, as AWS.
	DefaultDuration time.Duration
	// Account is the 12-digit account id in the ARNs s3gate advertises.
	// Empty means 000000000000. (IAM and STS ARNs carry no region.)
	Account string
	// SessionClaims names the top-level token claims a session carries
	// into its principal. nil means DefaultSessionClaims; empty carries
	// none.
	SessionClaims []string
	// Logger receives why requests were refused and which sessions were
	// issued. nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultSessionClaims are the claims a session carries when
// Options.SessionClaims is nil: the ones that identify the user.
var DefaultSessionClaims = []string{"iss", "sub", "aud", "azp", "email", "email_verified", "preferred_username", "name"}

// Session durations, in AWS's bounds.
const (
	minDuration        = 900 * time.Second
	maxDuration        = 12 * time.Hour
	defaultDuration    = time.Hour
	defaultRoleMax     = time.Hour
	maxDurationSeconds = 43200
	defaultAccount     = "000000000000"
)

// Service answers AssumeRoleWithWebIdentity and opens the session tokens it
// issued. It is safe for concurrent use.
type Service struct {
	opts   Options
	byARN  map[string]*role
	byName map[string]*role
	log    *slog.Logger
}

// role is a configured Role with what is derived from it once.
type role struct {
	Role
	id         string // AWS-style unique role id, AROA...
	conditions []condition
	max        time.Duration // the role's cap and the config's, whichever is lower
}

type condition struct {
	path    string
	allowed []string
}

var roleNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// New checks opts and returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Verifier == nil {
		return nil, errors.New("sts: no token verifier")
	}
	if opts.Keyring == nil {
		return nil, errors.New("sts: no keyring to seal session tokens")
	}
	if opts.Account == "" {
		opts.Account = defaultAccount
	}
	if len(opts.Account) != 12 || strings.Trim(opts.Account, "0123456789") != "" {
		return nil, fmt.Errorf("sts: account %q is not 12 digits", opts.Account)
	}
	var err error
	if opts.MaxDuration, err = checkDuration("the maximum session duration", opts.MaxDuration, maxDuration); err != nil {
		return nil, err
	}
	if opts.DefaultDuration, err = checkDuration("the default session duration", opts.DefaultDuration, defaultDuration); err != nil {
		return nil, err
	}
	if opts.SessionClaims == nil {
		opts.SessionClaims = DefaultSessionClaims
	}
	opts.SessionClaims = slices.Clone(opts.SessionClaims)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, byARN: map[string]*role{}, byName: map[string]*role{}, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, cfg := range opts.Roles {
		r, err := s.newRole(cfg)
		if err != nil {
			return nil, err
		}
		if s.byName[r.Name] != nil {
			return nil, fmt.Errorf("sts: role %q is configured twice", r.Name)
		}
		if s.byARN[r.ARN] != nil {
			return nil, fmt.Errorf("sts: roles %q and %q share the ARN %s", s.byARN[r.ARN].Name, r.Name, r.ARN)
		}
		s.byName[r.Name], s.byARN[r.ARN] = r, r
	}
	s.opts.Roles = nil // the copies in byName are what counts
	return s, nil
}

func checkDuration(what string, d, def time.Duration) (time.Duration, error) {
	if d == 0 {
		return def, nil
	}
	if d < minDuration || d > maxDuration || d%time.Second != 0 {
		return 0, fmt.Errorf("sts: %s %v is not whole seconds from 15m to 12h", what, d)
	}
	return d, nil
}

func (s *Service) newRole(cfg Role) (*role, error) {
	if !roleNameRE.MatchString(cfg.Name) {
		return nil, fmt.Errorf("sts: role name %q is not 1 to 64 characters of [\\w+=,.@-]", cfg.Name)
	}
	r := &role{Role: cfg}
	if r.ARN == "" {
		r.ARN = "arn:aws:iam::" + s.opts.Account + ":role/" + r.Name
	}
	if !strings.HasPrefix(r.ARN, "arn:") || len(r.ARN) < minARN || len(r.ARN) > maxARN {
		return nil, fmt.Errorf("sts: role %q: ARN %q is not an ARN of %d to %d characters", r.Name, r.ARN, minARN, maxARN)
	}
	if len(r.Issuers) == 0 || slices.Contains(r.Issuers, "") {
		return nil, fmt.Errorf("sts: role %q names no issuer (or an empty one) whose tokens may assume it", r.Name)
	}
	max, err := checkDuration("role "+strconv.Quote(r.Name)+": the maximum session duration", r.MaxDuration, defaultRoleMax)
	if err != nil {
		return nil, err
	}
	r.MaxDuration = max
	r.max = min(max, s.opts.MaxDuration)
	for path, allowed := range r.Conditions {
		if path == "" || slices.Contains(strings.Split(path, "."), "") {
			return nil, fmt.Errorf("sts: role %q: condition claim path %q has an empty segment", r.Name, path)
		}
		if len(allowed) == 0 {
			return nil, fmt.Errorf("sts: role %q: condition on %q allows no value, so no token could assume the role", r.Name, path)
		}
		r.conditions = append(r.conditions, condition{path: path, allowed: slices.Clone(allowed)})
	}
	// Sorted so that a refusal always reports the same condition.
	slices.SortFunc(r.conditions, func(a, b condition) int { return strings.Compare(a.path, b.path) })
	r.Issuers, r.Roles, r.Conditions = slices.Clone(r.Issuers), slices.Clone(r.Roles), nil
	// AWS gives every role a unique id (AROA and 17 characters) that
	// appears in AssumedRoleId; derived from the ARN, it is the same on
	// every replica.
	sum := sha256.Sum256([]byte(r.ARN))
	r.id = "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
	return r, nil
}

// Credentials is the result of AssumeRoleWithWebIdentity: the session's
// key pair and token, and what AWS reports about the session.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time

	// SubjectFromWebIdentityToken is the token's "sub" claim.
	SubjectFromWebIdentityToken string
	// AssumedRoleID is ROLEID:SESSIONNAME.
	AssumedRoleID string
	// AssumedRoleARN is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSIONNAME.
	AssumedRoleARN string
	// Provider is the token's "iss" claim.
	Provider string
	// Audience is the token's "aud" claim (its "azp", or first element,
	// when the token names several audiences).
	Audience string
}

// Request parameter constraints, from the STS API reference.
const (
	minARN          = 20
	maxARN          = 2048
	minTokenChars   = 4
	maxTokenChars   = 20000
	apiVersion      = "2011-06-15"
	actionName      = "AssumeRoleWithWebIdentity"
	sessionNameRule = `[\w+=,.@-]*`
)

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]*$`)

// request is a validated AssumeRoleWithWebIdentity request.
type request struct {
	roleARN     string
	sessionName string
	token       string
	duration    time.Duration // 0: not given
}

// AssumeRoleWithWebIdentity answers the STS action whose parameters are
// form (the query string and form body together). The token is verified
// before the role is looked up, so only holders of a valid token learn
// which roles exist.
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, form url.Values) (Credentials, *Error) {
	req, e := parseRequest(form)
	if e != nil {
		return Credentials{}, e
	}
	tok, err := s.opts.Verifier.Verify(ctx, req.token)
	if err != nil {
		return Credentials{}, s.tokenError(ctx, err, req.token)
	}
	r := s.byARN[req.roleARN]
	if r == nil {
		s.log.InfoContext(ctx, "sts: refused: no such role", "role_arn", req.roleARN, "issuer", tok.Issuer, "subject", tok.Subject)
		return Credentials{}, errAccessDenied()
	}
	if !slices.Contains(r.Issuers, tok.Issuer) {
		s.log.InfoContext(ctx, "sts: refused: issuer may not assume the role", "role", r.Name, "issuer", tok.Issuer, "subject", tok.Subject)
		return Credentials{}, errRejectedClaim()
	}
	for _, c := range r.conditions {
		if !c.holds(tok.Principal.Claims) {
			s.log.InfoContext(ctx, "sts: refused: a role condition does not hold", "role", r.Name, "claim", c.path, "issuer", tok.Issuer, "subject", tok.Subject)
			return Credentials{}, errRejectedClaim()
		}
	}
	d := req.duration
	switch {
	case d == 0:
		d = min(s.opts.DefaultDuration, r.max)
	case d > r.max:
		return Credentials{}, newError(codeValidation, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d seconds).", int(r.max/time.Second))
	}
	return s.issue(ctx, tok, r, req.sessionName, d)
}

func parseRequest(form url.Values) (request, *Error) {
	// A parameter given twice (or in both the query string and the body)
	// has no single meaning; refuse rather than pick one.
	for k, vs := range form {
		if len(vs) > 1 {
			return request{}, newError(codeValidation, "The parameter %s is given more than once.", truncate(k))
		}
	}
	action, ok := form["Action"]
	if !ok {
		return request{}, newError(codeMissingAction, "The request must contain the parameter Action.")
	}
	version, hasVersion := form["Version"]
	if action[0] != actionName {
		return request{}, newError(codeInvalidAction, "Could not find operation %s for version %s.", truncate(action[0]), truncate(form.Get("Version")))
	}
	if !hasVersion {
		return request{}, newError(codeMissingParameter, "The request must contain the parameter Version.")
	}
	if version[0] != apiVersion {
		return request{}, newError(codeInvalidAction, "Could not find operation %s for version %s.", actionName, truncate(version[0]))
	}
	for k, vs := range form {
		if vs[0] == "" {
			continue // SDKs send an empty PolicyArns= for an empty list
		}
		if k == "Policy" || k == "PolicyArns" || strings.HasPrefix(k, "PolicyArns.") {
			return request{}, newError(codeValidation, "s3gate does not support session policies (%s): a session has its role's permissions. Omit the parameter.", strings.SplitN(k, ".", 2)[0])
		}
		if k == "ProviderId" {
			return request{}, newError(codeValidation, "s3gate does not support ProviderId: the token's issuer is taken from the token. Omit the parameter.")
		}
	}
	var req request
	for _, p := range []struct {
		name string
		dst  *string
	}{{"RoleArn", &req.roleARN}, {"RoleSessionName", &req.sessionName}, {"WebIdentityToken", &req.token}} {
		vs, ok := form[p.name]
		if !ok {
			return request{}, newError(codeMissingParameter, "The request must contain the parameter %s.", p.name)
		}
		*p.dst = vs[0]
	}
	switch n := len(req.roleARN); {
	case n < minARN:
		return request{}, validation(req.roleARN, "roleArn", "Member must have length greater than or equal to %d", minARN)
	case n > maxARN:
		return request{}, validation(req.roleARN, "roleArn", "Member must have length less than or equal to %d", maxARN)
	}
	switch n := len(req.sessionName); {
	case n < 2:
		return request{}, validation(req.sessionName, "roleSessionName", "Member must have length greater than or equal to 2")
	case n > 64:
		return request{}, validation(req.sessionName, "roleSessionName", "Member must have length less than or equal to 64")
	case !sessionNameRE.MatchString(req.sessionName):
		return request{}, validation(req.sessionName, "roleSessionName", "Member must satisfy regular expression pattern: %s", sessionNameRule)
	}
	// The token's value is never echoed.
	switch n := len(req.token); {
	case n < minTokenChars:
		return request{}, newError(codeValidation, "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to %d", minTokenChars)
	case n > maxTokenChars:
		return request{}, newError(codeValidation, "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to %d", maxTokenChars)
	}
	if vs, ok := form["DurationSeconds"]; ok {
		v := vs[0]
		// Digits only: strconv would also take a sign.
		if v == "" || len(v) > 9 || strings.Trim(v, "0123456789") != "" {
			return request{}, validation(v, "durationSeconds", "Member must be an integer")
		}
		n, _ := strconv.Atoi(v)
		switch {
		case n < int(minDuration/time.Second):
			return request{}, validation(v, "durationSeconds", "Member must have value greater than or equal to %d", int(minDuration/time.Second))
		case n > maxDurationSeconds:
			return request{}, validation(v, "durationSeconds", "Member must have value less than or equal to %d", maxDurationSeconds)
		}
		req.duration = time.Duration(n) * time.Second
	}
	return req, nil
}

// validation is AWS's ValidationError for one parameter.
func validation(value, member, constraint string, args ...any) *Error {
	return newError(codeValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s",
		truncate(value), member, fmt.Sprintf(constraint, args...))
}

// truncate bounds a client's value echoed in a message.
func truncate(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// tokenError maps a verifier's error. Its text goes to the log only, with
// the token cut out in case the verifier quoted it.
func (s *Service) tokenError(ctx context.Context, err error, raw string) *Error {
	msg := redact(err.Error(), raw)
	switch {
	case s.opts.ExpiredErr != nil && errors.Is(err, s.opts.ExpiredErr):
		s.log.InfoContext(ctx, "sts: refused: expired token", "error", msg)
		return newError(codeExpiredToken, "Token expired: the web identity token is past its expiry. Get a new token from the identity provider.")
	case s.opts.UnreachableErr != nil && errors.Is(err, s.opts.UnreachableErr):
		s.log.WarnContext(ctx, "sts: the token's issuer could not be reached", "error", msg)
		return newError(codeIDPCommunication, "The identity provider that issued the token could not be reached. Try again later.")
	default:
		s.log.InfoContext(ctx, "sts: refused: invalid token", "error", msg)
		return newError(codeInvalidToken, "The web identity token could not be validated.")
	}
}

// redact removes the token, and each of its dot-separated parts, from s.
func redact(s, token string) string {
	s = strings.ReplaceAll(s, token, "[token]")
	for part := range strings.SplitSeq(token, ".") {
		if len(part) >= 8 {
			s = strings.ReplaceAll(s, part, "[token]")
		}
	}
	return s
}

// issue mints the session for a verified token and role.
func (s *Service) issue(ctx context.Context, tok identity.VerifiedToken, r *role, sessionName string, d time.Duration) (Credentials, *Error) {
	pid := tok.Principal.ID
	if pid == "" && tok.Subject != "" {
		pid = tok.Issuer + ":" + tok.Subject
	}
	if pid == "" {
		s.log.InfoContext(ctx, "sts: refused: the verified token names no principal", "issuer", tok.Issuer)
		return Credentials{}, newError(codeInvalidToken, "The web identity token names no subject.")
	}
	now := s.opts.Now().UTC().Truncate(time.Second)
	exp := now.Add(d)
	sess := session{
		Version:     sessionVersion,
		AccessKeyID: identity.NewKeyID("ASIA", 20),
		Secret:      identity.NewSecret(),
		IssuedAt:    now.Unix(),
		Expires:     exp.Unix(),
		Role:        r.Name,
		SessionName: sessionName,
		Principal:   pid,
		DisplayName: tok.Principal.DisplayName,
		Issuer:      tok.Issuer,
		Subject:     tok.Subject,
		Groups:      tok.Principal.Groups,
		Claims:      s.sessionClaims(tok.Principal.Claims),
	}
	plain, err := json.Marshal(sess)
	if err != nil {
		s.log.ErrorContext(ctx, "sts: cannot encode a session", "role", r.Name, "issuer", tok.Issuer, "subject", tok.Subject, "error", err)
		return Credentials{}, errInternal()
	}
	if len(plain) > maxSessionBytes {
		s.log.InfoContext(ctx, "sts: refused: groups and claims too large for a session", "role", r.Name, "issuer", tok.Issuer, "subject", tok.Subject, "bytes", len(plain))
		return Credentials{}, newError(codePackedPolicyTooLarge, "The token's groups and claims are too large to carry into a session (%d bytes; at most %d).", len(plain), maxSessionBytes)
	}
	c := Credentials{
		AccessKeyID:                 sess.AccessKeyID,
		SecretAccessKey:             sess.Secret,
		SessionToken:                encodeToken(s.opts.Keyring.Seal(plain, sealPurpose)),
		Expiration:                  exp,
		SubjectFromWebIdentityToken: tok.Subject,
		AssumedRoleID:               r.id + ":" + sessionName,
		AssumedRoleARN:              "arn:aws:sts::" + s.opts.Account + ":assumed-role/" + r.Name + "/" + sessionName,
		Provider:                    claimText(tok.Principal.Claims["iss"]),
		Audience:                    audience(tok.Principal.Claims),
	}
	if c.Provider == "" {
		c.Provider = tok.Issuer
	}
	// Sessions are not stored anywhere: this line is their audit trail.
	s.log.InfoContext(ctx, "sts: session issued", "access_key", c.AccessKeyID, "role", r.Name, "session_name", sessionName,
		"principal", pid, "issuer", tok.Issuer, "subject", tok.Subject, "expires", exp)
	return c, nil
}

// sessionClaims picks the configured claims out of a token's.
func (s *Service) sessionClaims(all map[string]any) map[string]any {
	var out map[string]any
	for _, name := range s.opts.SessionClaims {
		if v, ok := all[name]; ok {
			if out == nil {
				out = map[string]any{}
			}
			out[name] = v
		}
	}
	return out
}

func audience(claims map[string]any) string {
	switch aud := claims["aud"].(type) {
	case string:
		return aud
	case []any:
		if azp := claimText(claims["azp"]); azp != "" {
			return azp
		}
		if len(aud) > 0 {
			return claimText(aud[0])
		}
	case []string:
		if azp := claimText(claims["azp"]); azp != "" {
			return azp
		}
		if len(aud) > 0 {
			return aud[0]
		}
	}
	return ""
}

func claimText(v any) string {
	s, _ := v.(string)
	return s
}
