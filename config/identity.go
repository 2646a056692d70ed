package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Identity configures how access keys and session credentials are kept:
// the master key that encrypts them, and how soon a change to a key reaches
// every replica.
type Identity struct {
	MasterKey              string        `name:"master-key" help:"Master key (64 hex digits, or base64 of 32 bytes) that encrypts stored secret keys and session tokens; prefer the environment variable to the flag. Every replica sharing a PostgreSQL catalogue needs the same one. With neither this nor identity-master-key-file, the embedded shape generates one in the data dir."`
	MasterKeyFile          string        `name:"master-key-file" placeholder:"FILE" help:"File holding the master key (mode 0600)."`
	PreviousMasterKeyFiles []string      `name:"previous-master-key-files" placeholder:"FILE,..." help:"Older master keys that still open secrets sealed before a rotation."`
	KeyRefresh             time.Duration `name:"key-refresh" default:"10s" help:"How soon a key disabled, deleted or created on another replica takes effect here."`
}

// Auth is the config file's jwt and sts sections: the token issuers s3gate
// trusts and the roles their tokens may assume. Like the storage sections
// they are read from the file only.
type Auth struct {
	JWT JWT `yaml:"jwt"`
	STS STS `yaml:"sts"`
}

// JWT lists the issuers of bearer tokens.
type JWT struct {
	Issuers []JWTIssuer `yaml:"issuers"`
}

// JWTIssuer is one token issuer; exactly one of hmac_secret,
// hmac_secret_file, jwks_file and jwks_url gives its keys.
type JWTIssuer struct {
	Name           string        `yaml:"name"`
	Issuer         string        `yaml:"issuer"`
	Audiences      []string      `yaml:"audiences"`
	HMACSecret     string        `yaml:"hmac_secret"`
	HMACSecretFile string        `yaml:"hmac_secret_file"`
	JWKSFile       string        `yaml:"jwks_file"`
	JWKSURL        string        `yaml:"jwks_url"`
	Algorithms     []string      `yaml:"algorithms"`
	Leeway         time.Duration `yaml:"leeway"`
	IDPrefix       string        `yaml:"id_prefix"`
	Claims         JWTClaims     `yaml:"claims"`
}

// JWTClaims are the claim paths a principal is made of.
type JWTClaims struct {
	ID          string `yaml:"id"`
	DisplayName string `yaml:"display_name"`
	Roles       string `yaml:"roles"`
	Groups      string `yaml:"groups"`
}

// STS configures AssumeRoleWithWebIdentity.
type STS struct {
	// Account is the account id in role ARNs
	// (arn:aws:iam::ACCOUNT:role/NAME).
	Account         string        `yaml:"account"`
	MaxDuration     time.Duration `yaml:"max_duration"`
	DefaultDuration time.Duration `yaml:"default_duration"`
	Roles           []STSRole     `yaml:"roles"`
}

// STSRole is a role tokens may assume.
type STSRole struct {
	Name        string              `yaml:"name"`
	ARN         string              `yaml:"arn"`
	Issuers     []string            `yaml:"issuers"`
	Conditions  map[string][]string `yaml:"conditions"`
	Roles       []string            `yaml:"roles"`
	MaxDuration time.Duration       `yaml:"max_duration"`
}

// authKeys are the config file's sections LoadAuth reads.
var authKeys = []string{"jwt", "sts"}

// LoadAuth reads the jwt and sts sections of the YAML file at path ("" for
// none). Unknown keys are errors.
func LoadAuth(path string) (Auth, error) {
	var a Auth
	err := decodeSections(path, authKeys, &a)
	return a, err
}

var issuerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Validate checks the identity settings with the auth sections, naming
// the entry at fault. Details the packages check themselves (key shapes,
// algorithm names) are left to them; their errors name the issuer.
func (a Auth) Validate() error {
	names := map[string]bool{}
	for i, is := range a.JWT.Issuers {
		where := fmt.Sprintf("invalid setting jwt.issuers[%d]", i)
		switch {
		case !issuerNameRE.MatchString(is.Name):
			return fmt.Errorf("%s.name: %q must be lower-case letters, digits, ., - and _", where, is.Name)
		case names[is.Name]:
			return fmt.Errorf("%s.name: %q is used twice", where, is.Name)
		case is.Issuer == "":
			return fmt.Errorf("%s.issuer: the tokens' exact iss value is required", where)
		case len(is.Audiences) == 0:
			return fmt.Errorf("%s.audiences: at least one audience is required (a token minted for another service must not open s3gate)", where)
		}
		names[is.Name] = true
		n := 0
		for _, s := range []string{is.HMACSecret, is.HMACSecretFile, is.JWKSFile, is.JWKSURL} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: set exactly one of hmac_secret, hmac_secret_file, jwks_file and jwks_url", where)
		}
		if is.JWKSURL != "" {
			if u, err := url.Parse(is.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fmt.Errorf("%s.jwks_url: %q must be an http:// or https:// URL", where, is.JWKSURL)
			}
		}
	}
	if len(a.STS.Roles) > 0 && len(a.JWT.Issuers) == 0 {
		return fmt.Errorf("invalid setting sts.roles: roles are assumed with tokens of a jwt issuer, and none is configured")
	}
	roles := map[string]bool{}
	for i, r := range a.STS.Roles {
		where := fmt.Sprintf("invalid setting sts.roles[%d]", i)
		switch {
		case r.Name == "":
			return fmt.Errorf("%s.name: required", where)
		case roles[r.Name]:
			return fmt.Errorf("%s.name: %q is used twice", where, r.Name)
		case len(r.Issuers) == 0:
			return fmt.Errorf("%s.issuers: name the jwt issuers whose tokens may assume it", where)
		}
		roles[r.Name] = true
		for _, is := range r.Issuers {
			if !names[is] {
				return fmt.Errorf("%s.issuers: %q is not a configured jwt issuer", where, is)
			}
		}
	}
	return nil
}
