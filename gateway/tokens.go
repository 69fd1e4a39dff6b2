package gateway

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
)

// Bounds of the gateway's memory of accepted tokens.
const (
	// acceptedTokenTTL is how long an accepted token is taken on trust, at
	// most: never past its expiry (with kit/auth's Leeway, as the verifier
	// itself allows). It bounds how long a signing key withdrawn from the
	// user service's key set can still get its tokens through the gateway;
	// the service behind checks every token itself anyway, the gateway's
	// check only keeps anonymous and forged traffic away.
	acceptedTokenTTL = 10 * time.Second
	// acceptedTokensMax bounds the entries (about 100 bytes each).
	acceptedTokensMax = 10_000
)

// acceptedTokens remembers the tokens the verifier accepted recently, so
// that a client sending its token with every request costs the gateway a
// hash and a map lookup instead of an Ed25519 verification and a JSON parse
// each time (about 90µs of CPU per request, measured on the order path).
// Tokens are known by their SHA-256, so the map holds no credential, and
// only accepted tokens are remembered: a forged or expired one is checked
// in full every time, and a cached one cannot vouch for any other token.
type acceptedTokens struct {
	verifier *auth.Verifier
	ttl      time.Duration
	max      int

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]acceptedToken
}

type acceptedToken struct {
	id      auth.Identity
	expires time.Time
}

func newAcceptedTokens(v *auth.Verifier) *acceptedTokens {
	return &acceptedTokens{verifier: v, ttl: acceptedTokenTTL, max: acceptedTokensMax,
		entries: make(map[[sha256.Size]byte]acceptedToken)}
}

// Verify returns the identity of token: from memory when it was accepted
// less than ttl ago and has not expired since, from the verifier otherwise
// (whose errors are returned as they are).
func (a *acceptedTokens) Verify(ctx context.Context, token string) (auth.Identity, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	a.mu.RLock()
	e, ok := a.entries[key]
	a.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.id, nil
	}
	id, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return id, err
	}
	a.mu.Lock()
	if len(a.entries) >= a.max {
		a.evict(now)
	}
	expires := now.Add(a.ttl)
	if !id.ExpiresAt.IsZero() {
		expires = minTime(expires, id.ExpiresAt.Add(auth.Leeway))
	}
	a.entries[key] = acceptedToken{id: id, expires: expires}
	a.mu.Unlock()
	return id, nil
}

// evict makes room: the expired entries go, and if that is not enough, an
// arbitrary tenth of the rest (Go's map order is random), which only costs
// those tokens a verification next time. Called with mu held.
func (a *acceptedTokens) evict(now time.Time) {
	for k, e := range a.entries {
		if !now.Before(e.expires) {
			delete(a.entries, k)
		}
	}
	if len(a.entries) < a.max {
		return
	}
	drop := max(1, a.max/10)
	for k := range a.entries {
		if drop == 0 {
			break
		}
		delete(a.entries, k)
		drop--
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
