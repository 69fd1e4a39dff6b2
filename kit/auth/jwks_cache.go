package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// Defaults of a JWKSCache; see the options of the same names.
const (
	DefaultMinRefresh      = 10 * time.Second
	DefaultRefreshInterval = 5 * time.Minute
	DefaultFetchTimeout    = 5 * time.Second
)

// JWKSOption configures a JWKSCache.
type JWKSOption func(*jwksOptions)

type jwksOptions struct {
	minRefresh      time.Duration
	refreshInterval time.Duration
	fetchTimeout    time.Duration
}

// WithMinRefresh sets the shortest time between two fetches (default
// DefaultMinRefresh). Tokens with unknown key ids are cheap to forge; this
// bound keeps them from turning into a flood of requests to the issuer.
func WithMinRefresh(d time.Duration) JWKSOption {
	return func(o *jwksOptions) {
		if d > 0 {
			o.minRefresh = d
		}
	}
}

// WithRefreshInterval sets how old the key set may get before a lookup
// triggers a refresh in the background (default DefaultRefreshInterval), so
// that keys the issuer withdrew stop being accepted.
func WithRefreshInterval(d time.Duration) JWKSOption {
	return func(o *jwksOptions) {
		if d > 0 {
			o.refreshInterval = d
		}
	}
}

// WithFetchTimeout bounds one fetch (default DefaultFetchTimeout).
func WithFetchTimeout(d time.Duration) JWKSOption {
	return func(o *jwksOptions) {
		if d > 0 {
			o.fetchTimeout = d
		}
	}
}

// JWKSCache is a KeySource that keeps the key set of a JWKS fetch function.
//
// A lookup of a known kid is answered from memory. When the set is older than
// the refresh interval, that lookup also starts a refresh in the background,
// without waiting for it. A lookup of an unknown kid fetches the set again
// and waits (a newly rotated key shows up this way), but fetches start at
// most once per MinRefresh, and lookups that arrive while a fetch is running
// wait for that fetch instead of starting their own.
//
// A failed fetch leaves the known keys in place, so tokens signed with them
// keep working while the issuer is down; an unknown kid is then an
// errs.Unavailable error, because the key may exist. There is no background
// goroutine to stop: a fetch runs only on demand, and ends on its own within
// the fetch timeout.
type JWKSCache struct {
	fetch  func(context.Context) (JWKS, error)
	logger log.Logger
	opts   jwksOptions

	mu        sync.Mutex
	keys      map[string]ed25519.PublicKey
	loaded    time.Time     // when keys were fetched; zero before the first success
	attempted time.Time     // when the last fetch started, whatever its outcome
	lastErr   error         // outcome of the last completed fetch
	inflight  chan struct{} // closed when the running fetch completes; nil if none runs
}

// NewJWKSCache returns a cache over fetch, which is typically
// HTTPJWKSFetcher. It fetches nothing until the first lookup (or Refresh).
// Fetch failures are logged to logger (nil means no logging).
func NewJWKSCache(fetch func(context.Context) (JWKS, error), logger log.Logger, opts ...JWKSOption) *JWKSCache {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	o := jwksOptions{
		minRefresh:      DefaultMinRefresh,
		refreshInterval: DefaultRefreshInterval,
		fetchTimeout:    DefaultFetchTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &JWKSCache{fetch: fetch, logger: logger, opts: o}
}

// HasKey implements KeyChecker: whether the key set as last fetched has key
// under kid. It fetches nothing.
func (c *JWKSCache) HasKey(kid string, key ed25519.PublicKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return key.Equal(c.keys[kid])
}

// PublicKey implements KeySource. It returns an errs.Unauthenticated error
// when the issuer's current key set has no key kid, and an errs.Unavailable
// error when it could not fetch that set or ctx ended first.
func (c *JWKSCache) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	now := time.Now()
	c.mu.Lock()
	if key, ok := c.keys[kid]; ok {
		if now.Sub(c.loaded) >= c.opts.refreshInterval && c.inflight == nil && c.mayFetchLocked(now) {
			c.startFetchLocked(ctx, now) // stale: refresh, but answer now
		}
		c.mu.Unlock()
		return key, nil
	}
	done := c.inflight
	if done == nil && c.mayFetchLocked(now) {
		done = c.startFetchLocked(ctx, now)
	}
	if done == nil {
		err := c.missingLocked(kid, now)
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Unlock()

	if err := wait(ctx, done); err != nil {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := c.keys[kid]; ok {
		return key, nil
	}
	return nil, c.missingLocked(kid, time.Now())
}

// Refresh fetches the key set now, or waits for the fetch already running,
// regardless of MinRefresh. A service may call it at start-up to have the
// keys before the first request; an error is errs.Unavailable and not fatal,
// since lookups fetch again later.
func (c *JWKSCache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	done := c.inflight
	if done == nil {
		done = c.startFetchLocked(ctx, time.Now())
	}
	c.mu.Unlock()

	if err := wait(ctx, done); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != nil {
		return errs.Wrap(c.lastErr, errs.Unavailable, msgKeysUnavailable)
	}
	return nil
}

// Kids returns the ids of the keys the cache holds, sorted.
func (c *JWKSCache) Kids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.keys))
}

func (c *JWKSCache) mayFetchLocked(now time.Time) bool {
	return c.attempted.IsZero() || now.Sub(c.attempted) >= c.opts.minRefresh
}

// missingLocked is the error for a kid the cache cannot resolve and may not
// fetch for now. If the last fetch failed, the key may well exist.
func (c *JWKSCache) missingLocked(kid string, now time.Time) error {
	if c.lastErr != nil {
		retry := c.opts.minRefresh - now.Sub(c.attempted)
		return &errs.Error{Kind: errs.Unavailable, Message: msgKeysUnavailable, RetryAfter: max(retry, time.Second), Err: c.lastErr}
	}
	return unknownKey(kid)
}

// startFetchLocked starts a fetch and returns the channel closed when it
// completes. The fetch is detached from ctx's cancellation (keeping its
// values, such as the request id): it serves every lookup waiting for it,
// not only the one that happened to start it.
func (c *JWKSCache) startFetchLocked(ctx context.Context, now time.Time) chan struct{} {
	done := make(chan struct{})
	c.inflight = done
	c.attempted = now
	go c.runFetch(context.WithoutCancel(ctx), done)
	return done
}

func (c *JWKSCache) runFetch(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.fetchTimeout)
	defer cancel()

	set, err := c.fetch(ctx)
	var keys map[string]ed25519.PublicKey
	if err == nil {
		keys, err = c.usableKeys(set)
	}

	c.mu.Lock()
	c.lastErr = err
	if err == nil {
		if !maps.EqualFunc(c.keys, keys, func(a, b ed25519.PublicKey) bool { return a.Equal(b) }) {
			level.Info(c.logger).Log("msg", "token signing keys updated", "kids", len(keys))
		}
		c.keys = keys
		c.loaded = time.Now()
	} else {
		level.Warn(c.logger).Log("msg", "fetching token signing keys failed", "known_kids", len(c.keys), "err", err)
	}
	c.inflight = nil
	c.mu.Unlock()
	close(done)
}

// usableKeys picks the Ed25519 signing keys out of set. Keys of other kinds
// are skipped (an issuer may publish more than kitshop uses); a set without
// any usable key is an error, so a broken document does not wipe out the
// keys the cache holds.
func (c *JWKSCache) usableKeys(set JWKS) (map[string]ed25519.PublicKey, error) {
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Kid == "" {
			level.Debug(c.logger).Log("msg", "skipping jwk without kid")
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			level.Warn(c.logger).Log("msg", "skipping jwk with duplicate kid", "kid", truncate(k.Kid, 64))
			continue
		}
		pub, err := k.PublicKey()
		if err != nil {
			level.Debug(c.logger).Log("msg", "skipping jwk", "err", err)
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks has no usable Ed25519 signing key")
	}
	return keys, nil
}

// wait blocks until done is closed or ctx ends.
func wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errs.Wrap(ctx.Err(), errs.Unavailable, msgKeysUnavailable)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
