package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// tokenKey is how verifiedTokens knows a token: by its SHA-256, so the
// memory holds no credential that a heap dump could leak, and every entry
// has the same small size however long its token. A token that collides
// with an accepted one would need a second preimage of SHA-256.
type tokenKey [sha256.Size]byte

// keyOf returns the key of rawToken. It hashes the string's bytes in place:
// []byte(rawToken) would copy them to the heap on every request, and
// sha256.Sum256 only reads them.
func keyOf(rawToken string) tokenKey {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(rawToken), len(rawToken)))
}

// verifiedTokens is a Verifier's memory of the tokens it accepted, at most
// limit of them. It is safe for concurrent use; lookups share a read lock and
// allocate nothing but the copy of the roles they return.
type verifiedTokens struct {
	limit int

	mu      sync.RWMutex
	entries map[tokenKey]verifiedToken
}

// verifiedToken is what a token was verified to say, and when: the parser
// accepts it from from until (not including) until.
type verifiedToken struct {
	id    Identity // Roles are never handed out, only copies of them
	from  time.Time
	until time.Time
	// kid and key are what the token was verified with; a hit is only
	// good while the KeySource still has that key under that kid.
	kid string
	key ed25519.PublicKey
}

// usableAt reports whether the parser would accept the token at now, as far
// as time goes (every other check is timeless and was passed already).
func (e verifiedToken) usableAt(now time.Time) bool {
	return !now.Before(e.from) && now.Before(e.until)
}

func newVerifiedTokens(limit int) *verifiedTokens {
	return &verifiedTokens{limit: limit, entries: make(map[tokenKey]verifiedToken)}
}

// lookup returns the identity of the token key if it was verified before
// and is still valid at now, with its key still in keys (nil skips the
// check). An entry that is no longer valid is dropped, and the caller
// checks the token in full: the refusal is then the very error a token
// seen for the first time gets.
func (c *verifiedTokens) lookup(key tokenKey, now time.Time, keys KeyChecker) (Identity, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok {
		return Identity{}, false
	}
	if !e.usableAt(now) || (keys != nil && !keys.HasKey(e.kid, e.key)) {
		c.mu.Lock()
		delete(c.entries, key)
		c.mu.Unlock()
		return Identity{}, false
	}
	e.id.Roles = slices.Clone(e.id.Roles) // the caller may change its copy
	return e.id, true
}

// add remembers the token key, verified at now, as e. When the memory is
// full it evicts first.
func (c *verifiedTokens) add(key tokenKey, e verifiedToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.limit {
		c.evictLocked(now)
	}
	c.entries[key] = e
}

// evictLocked makes room for a tenth of limit at least: the expired entries go
// first, then arbitrary others (Go's map order is random), which only costs
// those tokens one full check next time. Freeing a tenth at once is what
// keeps the O(limit) sweep amortised to O(1) per added token. Called with mu
// held.
func (c *verifiedTokens) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	target := c.limit - max(1, c.limit/10)
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}

// len returns the number of remembered tokens.
func (c *verifiedTokens) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
