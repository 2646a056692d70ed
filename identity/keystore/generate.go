package keystore

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/s3gate/s3gate/identity"
)

// Key ids are "AK" and 18 upper-case letters or digits (about 93 random
// bits); secrets are 40 letters or digits (about 238 bits).
const (
	idPrefix = "AK"
	idLength = 20
	idChars  = identity.KeyIDChars
)

func newID() string     { return identity.NewKeyID(idPrefix, idLength) }
func newSecret() string { return identity.NewSecret() }

// validID reports whether id has the shape newID makes; no other id can be
// in the catalogue.
func validID(id string) bool {
	if len(id) != idLength || !strings.HasPrefix(id, idPrefix) {
		return false
	}
	for i := len(idPrefix); i < len(id); i++ {
		if strings.IndexByte(idChars, id[i]) < 0 {
			return false
		}
	}
	return true
}

// Limits on what a key may carry.
const (
	maxNameBytes        = 256
	maxDescriptionBytes = 1024
	maxRoles            = 32
	maxGroups           = 64
)

var (
	roleName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	groupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$`)
)

// principal checks the request and returns the principal the key acts for.
func (r CreateRequest) principal() (identity.Principal, error) {
	if r.PrincipalID == "" {
		return identity.Principal{}, fmt.Errorf("%w: a principal id is required", ErrInvalidRequest)
	}
	if err := checkText("principal id", r.PrincipalID, maxNameBytes); err != nil {
		return identity.Principal{}, err
	}
	// The root principal is defined by the root key file; a stored key for
	// it would be a second root that rotating that file does not revoke.
	if r.PrincipalID == identity.RootPrincipal().ID {
		return identity.Principal{}, fmt.Errorf("%w: principal %q is reserved for the root key", ErrInvalidRequest, r.PrincipalID)
	}
	name := r.DisplayName
	if name == "" {
		name = r.PrincipalID
	}
	if err := checkText("display name", name, maxNameBytes); err != nil {
		return identity.Principal{}, err
	}
	if err := checkText("description", r.Description, maxDescriptionBytes); err != nil {
		return identity.Principal{}, err
	}
	if err := checkNames("role", r.Roles, roleName, maxRoles); err != nil {
		return identity.Principal{}, err
	}
	if err := checkNames("group", r.Groups, groupName, maxGroups); err != nil {
		return identity.Principal{}, err
	}
	return identity.Principal{
		ID:          r.PrincipalID,
		DisplayName: name,
		Roles:       slices.Clone(r.Roles),
		Groups:      slices.Clone(r.Groups),
	}, nil
}

// checkText accepts UTF-8 without control characters or surrounding space.
func checkText(what, s string, maxBytes int) error {
	switch {
	case len(s) > maxBytes:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidRequest, what, maxBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalidRequest, what)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s contains a control character", ErrInvalidRequest, what)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%w: %s starts or ends with white space", ErrInvalidRequest, what)
	}
	return nil
}

func checkNames(what string, names []string, re *regexp.Regexp, maxCount int) error {
	if len(names) > maxCount {
		return fmt.Errorf("%w: more than %d %ss", ErrInvalidRequest, maxCount, what)
	}
	for i, n := range names {
		if !re.MatchString(n) {
			return fmt.Errorf("%w: %s name %q does not match %s", ErrInvalidRequest, what, shorten(n), re)
		}
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("%w: %s %q is listed twice", ErrInvalidRequest, what, n)
		}
	}
	return nil
}

// shorten keeps an error message about a bad name short.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
