// Package keystore keeps access keys in the catalogue and resolves them for
// SigV4 verification.
//
// A key belongs to a principal and carries its roles and groups. Its secret
// is shown once, when Create makes it; the catalogue holds it only sealed
// under the master key (identity/seal), bound to the key's id, so a sealed
// secret copied onto another row does not open.
//
// # Lookups and revocation
//
// The root key and any other static keys given to New answer from memory and
// cannot be changed through the Store. Every other id is read from the
// catalogue and the answer, yes or no, is cached. A positive answer is used
// for at most RefreshInterval, counted from when its query started, so a key
// disabled or deleted through another replica stops working here within that
// interval. Negative answers (no such key, disabled, a secret that does not
// open) are kept for the shorter NegativeTTL, so a client retrying a bad id
// costs one query per NegativeTTL while a key created elsewhere becomes
// usable within it.
//
// Entries expire rather than being refreshed in the background: the cost is
// one primary-key read per key in use per interval, not a reload of every
// stored key; there is no goroutine to start or stop; and the bound holds
// without trusting replicas' clocks or keeping tombstones for deleted keys.
// Changes made through this Store drop the cached entry at once.
//
// Concurrent lookups of one id share one query. Ids that Create could not
// have made are refused without a query, so garbage ids cost nothing.
package keystore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/seal"
)

// Defaults for Options.
const (
	DefaultRefreshInterval = 10 * time.Second
	DefaultNegativeTTL     = 2 * time.Second
	DefaultCacheSize       = 50000
)

// loadTimeout bounds one catalogue read. The read is shared by every caller
// waiting on the id, so it does not end with the first caller's context.
const loadTimeout = 10 * time.Second

// Errors of the Store. Lookup reports unknown and disabled keys with errors
// that match identity.ErrUnknownKey.
var (
	ErrNoSuchKey = errors.New("keystore: no such access key")
	// ErrStaticKey refuses changes to the root key and other keys that
	// come from the configuration rather than the catalogue.
	ErrStaticKey = errors.New("keystore: the root key and other configured keys cannot be changed through the key store")
	// ErrInvalidRequest is wrapped by every validation error of Create.
	ErrInvalidRequest = errors.New("keystore: invalid request")
	// ErrSecretUnreadable means a stored secret did not open: the master
	// key is not the one it was sealed with, or the row is damaged.
	ErrSecretUnreadable = errors.New("keystore: stored secret does not open with the configured master key")
	// ErrKeyDisabled is what Lookup returns for a disabled key. It matches
	// identity.ErrUnknownKey, so it is refused like an unknown key.
	ErrKeyDisabled error = disabledError{}
)

type disabledError struct{}

func (disabledError) Error() string        { return "keystore: access key is disabled" }
func (disabledError) Is(target error) bool { return target == identity.ErrUnknownKey }

// Catalog is the part of *catalog.Catalog the Store uses.
type Catalog interface {
	CreateAccessKey(ctx context.Context, k catalog.AccessKey) error
	GetAccessKey(ctx context.Context, id string) (catalog.AccessKey, error)
	ListAccessKeys(ctx context.Context, principalID string) ([]catalog.AccessKey, error)
	SetAccessKeyStatus(ctx context.Context, id string, status catalog.AccessKeyStatus) error
	DeleteAccessKey(ctx context.Context, id string) error
}

var _ Catalog = (*catalog.Catalog)(nil)

// Options configure a Store. The zero value gives the defaults.
type Options struct {
	// Static keys, the root key among them, answer from memory and cannot
	// be disabled or deleted through the Store.
	Static []identity.AccessKey
	// RefreshInterval is the longest a cached key is used without reading
	// the catalogue again: the bound on how long a key disabled or deleted
	// on another replica keeps working here. Default 10 s.
	RefreshInterval time.Duration
	// NegativeTTL is how long a "no such key" or "disabled" answer is kept.
	// Default 2 s, or RefreshInterval when that is shorter; it may not be
	// longer than RefreshInterval.
	NegativeTTL time.Duration
	// CacheSize caps the known keys held, and separately the negative
	// answers, so a flood of bad ids cannot grow memory. Default 50000.
	CacheSize int
}

// Store is the catalogue-backed key store. It is safe for concurrent use.
type Store struct {
	cat      Catalog
	keyring  *seal.Keyring
	static   map[string]identity.AccessKey
	interval time.Duration
	negTTL   time.Duration
	cache    *cache
	flights  singleflight.Group
	now      func() time.Time // tests move the clock
}

// New returns a Store over cat whose secrets are sealed with keyring.
func New(cat Catalog, keyring *seal.Keyring, opts Options) (*Store, error) {
	if cat == nil || keyring == nil {
		return nil, errors.New("keystore: a catalogue and a master keyring are required")
	}
	if opts.RefreshInterval < 0 || opts.NegativeTTL < 0 || opts.CacheSize < 0 {
		return nil, errors.New("keystore: refresh interval, negative TTL and cache size may not be negative")
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = min(DefaultNegativeTTL, opts.RefreshInterval)
	}
	if opts.NegativeTTL > opts.RefreshInterval {
		return nil, fmt.Errorf("keystore: negative TTL %v is longer than the refresh interval %v: a key created on another replica would stay unusable longer than the interval", opts.NegativeTTL, opts.RefreshInterval)
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	s := &Store{
		cat:      cat,
		keyring:  keyring,
		static:   make(map[string]identity.AccessKey, len(opts.Static)),
		interval: opts.RefreshInterval,
		negTTL:   opts.NegativeTTL,
		cache:    newCache(opts.CacheSize),
		now:      time.Now,
	}
	for _, k := range opts.Static {
		if k.ID == "" || k.Secret == "" {
			return nil, errors.New("keystore: a static key needs an id and a secret")
		}
		if _, dup := s.static[k.ID]; dup {
			return nil, fmt.Errorf("keystore: static key %s is given twice", k.ID)
		}
		s.static[k.ID] = cloneKey(k)
	}
	return s, nil
}

// Status says whether a key may sign requests.
type Status string

// The states a key can be in.
const (
	Active   Status = Status(catalog.AccessKeyActive)
	Disabled Status = Status(catalog.AccessKeyDisabled)
)

// Key describes a stored access key. It never holds the secret.
type Key struct {
	ID          string
	Principal   identity.Principal
	Description string
	Status      Status
	Created     time.Time
	Updated     time.Time
}

func keyFromRecord(r catalog.AccessKey) Key {
	return Key{
		ID:          r.ID,
		Principal:   principalOf(r),
		Description: r.Description,
		Status:      Status(r.Status),
		Created:     r.Created,
		Updated:     r.Updated,
	}
}

func principalOf(r catalog.AccessKey) identity.Principal {
	return identity.Principal{ID: r.PrincipalID, DisplayName: r.DisplayName, Roles: r.Roles, Groups: r.Groups}
}

// CreateRequest describes a key to create.
type CreateRequest struct {
	// PrincipalID is who the key acts for. Required.
	PrincipalID string
	// DisplayName defaults to PrincipalID.
	DisplayName string
	Roles       []string
	Groups      []string
	Description string
}

// Create makes a new active key for the request's principal and returns it
// with its secret. The secret cannot be read back later: only its sealed
// form is stored.
func (s *Store) Create(ctx context.Context, req CreateRequest) (identity.AccessKey, error) {
	p, err := req.principal()
	if err != nil {
		return identity.AccessKey{}, err
	}
	for attempt := 1; ; attempt++ {
		id := newID()
		if _, taken := s.static[id]; taken {
			continue
		}
		secret := newSecret()
		err := s.cat.CreateAccessKey(ctx, catalog.AccessKey{
			ID:           id,
			PrincipalID:  p.ID,
			DisplayName:  p.DisplayName,
			Roles:        p.Roles,
			Groups:       p.Groups,
			SealedSecret: s.keyring.Seal([]byte(secret), purpose(id)),
			Status:       catalog.AccessKeyActive,
			Description:  req.Description,
		})
		// A "no such key" answer for the id may be cached.
		s.invalidate(id)
		// 93 random bits make a clash all but impossible; a few retries
		// cost nothing.
		if errors.Is(err, catalog.ErrAccessKeyExists) && attempt < 3 {
			continue
		}
		if err != nil {
			return identity.AccessKey{}, fmt.Errorf("keystore: create access key: %w", err)
		}
		return identity.AccessKey{ID: id, Secret: secret, Principal: p}, nil
	}
}

// Get describes the stored key id, or returns ErrNoSuchKey; ErrStaticKey for
// a configured key.
func (s *Store) Get(ctx context.Context, id string) (Key, error) {
	if _, ok := s.static[id]; ok {
		return Key{}, ErrStaticKey
	}
	r, err := s.cat.GetAccessKey(ctx, id)
	if errors.Is(err, catalog.ErrNoSuchAccessKey) {
		return Key{}, ErrNoSuchKey
	}
	if err != nil {
		return Key{}, fmt.Errorf("keystore: get access key: %w", err)
	}
	return keyFromRecord(r), nil
}

// List describes the stored keys of one principal, or of all when
// principalID is "", sorted by id. Static keys are not listed.
func (s *Store) List(ctx context.Context, principalID string) ([]Key, error) {
	rs, err := s.cat.ListAccessKeys(ctx, principalID)
	if err != nil {
		return nil, fmt.Errorf("keystore: list access keys: %w", err)
	}
	ks := make([]Key, len(rs))
	for i, r := range rs {
		ks[i] = keyFromRecord(r)
	}
	return ks, nil
}

// Disable stops the key from signing requests: at once on this replica,
// within RefreshInterval on the others.
func (s *Store) Disable(ctx context.Context, id string) error {
	return s.setStatus(ctx, id, catalog.AccessKeyDisabled, "disable")
}

// Enable lets a disabled key sign requests again.
func (s *Store) Enable(ctx context.Context, id string) error {
	return s.setStatus(ctx, id, catalog.AccessKeyActive, "enable")
}

func (s *Store) setStatus(ctx context.Context, id string, status catalog.AccessKeyStatus, op string) error {
	if _, ok := s.static[id]; ok {
		return ErrStaticKey
	}
	err := s.cat.SetAccessKeyStatus(ctx, id, status)
	// Also after an error: the change may have committed all the same.
	s.invalidate(id)
	if errors.Is(err, catalog.ErrNoSuchAccessKey) {
		return ErrNoSuchKey
	}
	if err != nil {
		return fmt.Errorf("keystore: %s access key: %w", op, err)
	}
	return nil
}

// Delete removes the key: it stops working at once on this replica, within
// RefreshInterval on the others.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, ok := s.static[id]; ok {
		return ErrStaticKey
	}
	err := s.cat.DeleteAccessKey(ctx, id)
	s.invalidate(id)
	if errors.Is(err, catalog.ErrNoSuchAccessKey) {
		return ErrNoSuchKey
	}
	if err != nil {
		return fmt.Errorf("keystore: delete access key: %w", err)
	}
	return nil
}

// Lookup returns the active key id with its secret. An unknown or disabled
// key is an error matching identity.ErrUnknownKey; a secret that does not
// open is ErrSecretUnreadable; a catalogue failure is returned as such.
func (s *Store) Lookup(ctx context.Context, id string) (identity.AccessKey, error) {
	if k, ok := s.static[id]; ok {
		return cloneKey(k), nil
	}
	if !validID(id) {
		return identity.AccessKey{}, identity.ErrUnknownKey
	}
	if e, ok := s.cache.get(id, s.now()); ok {
		return e.result()
	}
	// The shared read outlives its callers; do not start one for nobody.
	if err := ctx.Err(); err != nil {
		return identity.AccessKey{}, err
	}
	ch := s.flights.DoChan(id, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return s.load(lctx, id)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return identity.AccessKey{}, r.Err
		}
		return r.Val.(entry).result()
	case <-ctx.Done():
		return identity.AccessKey{}, ctx.Err()
	}
}

// load reads id from the catalogue and caches the answer. Catalogue
// failures are not cached.
func (s *Store) load(ctx context.Context, id string) (entry, error) {
	gen := s.cache.generation()
	start := s.now()
	// A caller that missed the cache just before the previous query stored
	// its answer starts a new flight; it finds the answer here.
	if e, ok := s.cache.get(id, start); ok {
		return e, nil
	}
	r, err := s.cat.GetAccessKey(ctx, id)
	var e entry
	switch {
	case errors.Is(err, catalog.ErrNoSuchAccessKey):
		e = entry{err: identity.ErrUnknownKey, expires: start.Add(s.negTTL)}
	case err != nil:
		return entry{}, fmt.Errorf("keystore: look up access key %s: %w", id, err)
	case r.Status != catalog.AccessKeyActive:
		e = entry{err: ErrKeyDisabled, expires: start.Add(s.negTTL)}
	default:
		secret, err := s.keyring.Open(r.SealedSecret, purpose(id))
		if err != nil {
			e = entry{
				err:     fmt.Errorf("%w: access key %s was sealed under another master key, or its row is damaged (%w)", ErrSecretUnreadable, id, err),
				expires: start.Add(s.negTTL),
			}
			break
		}
		e = entry{
			key:     identity.AccessKey{ID: id, Secret: string(secret), Principal: principalOf(r)},
			expires: start.Add(s.interval),
		}
	}
	s.cache.put(id, e, gen, start)
	return e, nil
}

// invalidate drops what this replica knows of id after changing it, and
// makes later lookups start a fresh query rather than join one that may
// have read the old row.
func (s *Store) invalidate(id string) {
	s.cache.invalidate(id)
	s.flights.Forget(id)
}

// purpose binds a sealed secret to its key's id.
func purpose(id string) string { return "s3gate access key secret:" + id }

// cloneKey copies k's lists and claims, so a caller changing its copy cannot change
// what the Store holds.
func cloneKey(k identity.AccessKey) identity.AccessKey {
	k.Principal.Roles = slices.Clone(k.Principal.Roles)
	k.Principal.Groups = slices.Clone(k.Principal.Groups)
	k.Principal.Claims = maps.Clone(k.Principal.Claims)
	return k
}
