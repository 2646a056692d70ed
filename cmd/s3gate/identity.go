package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/bearer"
	"github.com/s3gate/s3gate/identity/keystore"
	"github.com/s3gate/s3gate/identity/seal"
	"github.com/s3gate/s3gate/identity/sts"
)

// MasterKeyFile is where the embedded shape keeps a generated master key.
const MasterKeyFile = "master.key"

// openKeyring loads the master key (and older ones) that seal stored
// secrets and session tokens. Without one configured, the embedded shape
// generates one in the data dir; a PostgreSQL catalogue, shared by
// replicas that must all open what any of them sealed, refuses to start.
func openKeyring(cfg config.Config, log *slog.Logger) (*seal.Keyring, error) {
	var (
		current []byte
		err     error
	)
	switch {
	case cfg.Identity.MasterKey != "":
		current, err = seal.ParseKey(cfg.Identity.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("identity.master_key (S3GATE_IDENTITY_MASTER_KEY): %w", err)
		}
	case cfg.Identity.MasterKeyFile != "":
		if current, err = seal.LoadKeyFile(cfg.Identity.MasterKeyFile); err != nil {
			return nil, fmt.Errorf("identity.master_key_file: %w", err)
		}
	case cfg.Catalog.DSN != "":
		return nil, errors.New("a PostgreSQL catalogue needs a master key shared by every replica: set identity.master_key_file or S3GATE_IDENTITY_MASTER_KEY (64 hex digits, e.g. from `openssl rand -hex 32`)")
	default:
		path := filepath.Join(cfg.DataDir, MasterKeyFile)
		var created bool
		if current, created, err = seal.LoadOrCreateKeyFile(path); err != nil {
			return nil, fmt.Errorf("master key %s: %w", path, err)
		}
		if created {
			log.Info("generated a master key for stored secrets; back it up with the data dir", "file", path)
		}
	}
	var older [][]byte
	for _, f := range cfg.Identity.PreviousMasterKeyFiles {
		k, err := seal.LoadKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("identity.previous_master_key_files: %w", err)
		}
		older = append(older, k)
	}
	return seal.NewKeyring(current, older...)
}

// openKeys is the access key store: the root key from memory, every other
// key from the catalogue.
func openKeys(cfg config.Config, cat *catalog.Catalog, keyring *seal.Keyring, root identity.AccessKey) (*keystore.Store, error) {
	return keystore.New(cat, keyring, keystore.Options{Static: []identity.AccessKey{root}, RefreshInterval: cfg.Identity.KeyRefresh})
}

// openTokens builds the bearer-token verifier and the STS service from the
// jwt and sts sections; both are nil when nothing is configured.
func openTokens(ctx context.Context, cfg config.Config, keyring *seal.Keyring, log *slog.Logger) (*bearer.Verifier, *sts.Service, error) {
	if len(cfg.Auth.JWT.Issuers) == 0 {
		return nil, nil, nil
	}
	issuers := make([]bearer.Issuer, 0, len(cfg.Auth.JWT.Issuers))
	for i, c := range cfg.Auth.JWT.Issuers {
		is := bearer.Issuer{
			Name: c.Name, Issuer: c.Issuer, Audiences: c.Audiences,
			JWKSFile: c.JWKSFile, JWKSURL: c.JWKSURL, Algorithms: c.Algorithms,
			Leeway: c.Leeway, IDPrefix: c.IDPrefix,
			Claims: bearer.ClaimMapping{ID: c.Claims.ID, DisplayName: c.Claims.DisplayName, Roles: c.Claims.Roles, Groups: c.Claims.Groups},
		}
		switch {
		case c.HMACSecret != "":
			is.HMACSecret = []byte(c.HMACSecret)
		case c.HMACSecretFile != "":
			b, err := os.ReadFile(c.HMACSecretFile)
			if err != nil {
				return nil, nil, fmt.Errorf("jwt.issuers[%d].hmac_secret_file: %w", i, err)
			}
			is.HMACSecret = []byte(strings.TrimRight(string(b), "\r\n"))
		}
		issuers = append(issuers, is)
	}
	tokens, err := bearer.New(ctx, issuers, bearer.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("jwt: %w", err)
	}
	if len(cfg.Auth.STS.Roles) == 0 {
		return tokens, nil, nil
	}
	roles := make([]sts.Role, 0, len(cfg.Auth.STS.Roles))
	for _, r := range cfg.Auth.STS.Roles {
		roles = append(roles, sts.Role{Name: r.Name, ARN: r.ARN, Issuers: r.Issuers, Conditions: r.Conditions, Roles: r.Roles, MaxDuration: r.MaxDuration})
	}
	svc, err := sts.New(sts.Options{
		Roles: roles, Verifier: tokens, Keyring: keyring,
		ExpiredErr: bearer.ErrExpired, UnreachableErr: bearer.ErrKeysUnavailable,
		MaxDuration: cfg.Auth.STS.MaxDuration, DefaultDuration: cfg.Auth.STS.DefaultDuration,
		Account: cfg.Auth.STS.Account, Logger: log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sts: %w", err)
	}
	return tokens, svc, nil
}
