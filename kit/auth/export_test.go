package auth

import (
	"net/http"
	"time"
)

// WithClock lets the external tests set a Verifier's clock; see withClock.
func WithClock(now func() time.Time) VerifierOption { return withClock(now) }

// CachedTokens returns how many verified tokens v remembers.
func (v *Verifier) CachedTokens() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// JWKSClient is the client HTTPJWKSFetcher fetches with when given c.
func JWKSClient(c *http.Client) *http.Client { return jwksClient(c) }
