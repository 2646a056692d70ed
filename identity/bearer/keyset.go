package bearer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// keySet caches one issuer's JWKS. It is refreshed when its TTL has passed
// and when a token names a kid it does not hold, but never more than once
// per minInterval, and concurrent refreshes share one fetch.
type keySet struct {
	where       string // for messages: file path or URL without query
	fetch       func(context.Context) ([]byte, error)
	now         func() time.Time
	ttl         time.Duration
	minInterval time.Duration

	mu          sync.Mutex
	keys        []jwk // replaced whole, never modified
	loaded      bool
	fetchedAt   time.Time // of the keys in use
	lastAttempt time.Time // of the last fetch, good or bad
	lastErr     error
	inflight    *refreshCall
}

type refreshCall struct {
	done chan struct{}
	err  error
}

// lookup returns the keys that may verify a token with this alg and kid,
// refreshing the set once (as the rate limit allows) when none match.
func (s *keySet) lookup(ctx context.Context, kid string, hasKid bool, alg string) ([]any, error) {
	keys, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if m := match(keys, kid, hasKid, alg); len(m) > 0 {
		return m, nil
	}
	// The issuer may have rotated to a key we have not seen yet.
	if err := s.refresh(ctx, true); err == nil {
		if m := match(s.snapshot(), kid, hasKid, alg); len(m) > 0 {
			return m, nil
		}
	}
	if hasKid {
		return nil, fmt.Errorf("%w: no %s key with kid %s in the issuer's JWKS", ErrInvalid, alg, quote(kid))
	}
	return nil, fmt.Errorf("%w: no key in the issuer's JWKS verifies %s", ErrInvalid, alg)
}

// current returns the cached keys, loading them first if they never were
// and refreshing them if the TTL has passed. A failed TTL refresh keeps the
// old keys: an unreachable issuer should not log everyone out, and keys it
// removed stop working at the first refresh that succeeds.
func (s *keySet) current(ctx context.Context) ([]jwk, error) {
	s.mu.Lock()
	keys, loaded := s.keys, s.loaded
	stale := loaded && s.now().Sub(s.fetchedAt) >= s.ttl
	s.mu.Unlock()
	switch {
	case !loaded:
		if err := s.refresh(ctx, true); err != nil {
			return nil, fmt.Errorf("%w: JWKS %s: %w", ErrKeysUnavailable, s.where, err)
		}
		return s.snapshot(), nil
	case stale:
		// Requests that find a refresh under way go on with the old keys
		// rather than queue behind it.
		if s.refresh(ctx, false) == nil {
			return s.snapshot(), nil
		}
	}
	return keys, nil
}

func (s *keySet) snapshot() []jwk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// refresh fetches the JWKS and waits for it, unless the last fetch was less
// than minInterval ago (errRefreshLimited, with the error of that fetch if
// it failed). If a fetch is already under way it waits for that one when
// wait is set and otherwise returns nil at once.
func (s *keySet) refresh(ctx context.Context, wait bool) error {
	s.mu.Lock()
	c := s.inflight
	if c == nil {
		now := s.now()
		if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minInterval {
			err := s.lastErr
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("%w; last fetch failed: %w", errRefreshLimited, err)
			}
			return errRefreshLimited
		}
		c = &refreshCall{done: make(chan struct{})}
		s.inflight, s.lastAttempt = c, now
		// The fetch runs on its own so the request that happened to start
		// it can give up (its context ended) without cancelling it for the
		// others waiting on it. DefaultFetchTimeout bounds it.
		go s.load(context.WithoutCancel(ctx), c)
		wait = true
	}
	s.mu.Unlock()
	if !wait {
		return nil
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// load fetches and parses the JWKS, installs it if it is one, and
// completes c.
func (s *keySet) load(ctx context.Context, c *refreshCall) {
	ctx, cancel := context.WithTimeout(ctx, DefaultFetchTimeout)
	defer cancel()
	body, err := s.fetch(ctx)
	var keys []jwk
	if err == nil {
		keys, err = parseJWKS(body)
		if err != nil {
			err = fmt.Errorf("not a JWK Set: %w", err)
		}
	}

	s.mu.Lock()
	if err == nil {
		s.keys, s.loaded, s.fetchedAt = keys, true, s.now()
	}
	s.lastErr = err
	s.inflight = nil
	c.err = err
	s.mu.Unlock()
	close(c.done)
}

// fetchURL returns a fetcher for a JWKS URL.
func fetchURL(client *http.Client, rawURL string, max int64) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			// url.Error repeats the full URL, query and all; the keySet
			// already names it without the query.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
		}
		return readLimited(resp.Body, max)
	}
}

// fetchFile returns a fetcher for a JWKS file.
func fetchFile(path string, max int64) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f, max)
	}
}

func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// redactURL drops userinfo, query and fragment, any of which may hold a
// credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}
