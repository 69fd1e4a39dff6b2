package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"golang.org/x/time/rate"
)

// Keyed keeps one token bucket per key (a client IP address, a user id), so
// one noisy client cannot use up everybody's share. Memory is bounded by
// maxKeys buckets and reclaimed lazily on the calling goroutine: there is
// nothing to start or stop. It is safe for concurrent use.
type Keyed struct {
	// unlimited is limit == rate.Inf, read without the lock so a disabled
	// limiter costs one atomic load.
	unlimited atomic.Bool
	limit     rate.Limit
	burst     int
	maxKeys   int
	// idle is how long an untouched bucket takes to refill completely; after
	// that it is the same as a new bucket and can be dropped.
	idle time.Duration

	mu      sync.Mutex
	buckets map[string]*keyedBucket
	// lru is the sentinel of a circular doubly linked list of buckets, most
	// recently used first. Intrusive links avoid container/list's per-element
	// allocation and interface conversions.
	lru keyedBucket
}

type keyedBucket struct {
	key        string
	lim        *rate.Limiter
	lastUsed   time.Time
	prev, next *keyedBucket
}

// NewKeyed returns a Keyed limiter giving each key perSecond calls per second
// with bursts of burst, remembering at most maxKeys keys (maxKeys < 1 is
// treated as 1). perSecond and burst are normalised as by NewTokenBucket.
//
// When the table is full, a key is forgotten to make room: among the least
// recently used few, the one with the most tokens left, the coldest first
// on a tie. Its next call starts with a full bucket, which costs little: it
// was a quiet key that had spent little. A key that spent its bucket (a
// client or an account that was just locked out) outlives any number of
// fresh keys that spent less, so nobody resets a penalty by flooding the
// table with new keys.
func NewKeyed(perSecond float64, burst int, maxKeys int) *Keyed {
	limit, burst := normalize(perSecond, burst)
	k := &Keyed{
		limit:   limit,
		burst:   burst,
		maxKeys: max(maxKeys, 1),
		buckets: make(map[string]*keyedBucket),
	}
	k.setLocked(limit, burst)
	k.lru.prev, k.lru.next = &k.lru, &k.lru
	return k
}

// SetRate changes every key's rate and burst, normalised as by NewKeyed,
// for live configuration. Each bucket keeps the tokens it has, capped at the
// new burst, so a client already over a lowered limit is refused at once.
func (k *Keyed) SetRate(perSecond float64, burst int) {
	limit, burst := normalize(perSecond, burst)
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.setLocked(limit, burst)
	for _, b := range k.buckets {
		b.lim.SetLimitAt(now, limit)
		b.lim.SetBurstAt(now, burst)
	}
}

func (k *Keyed) setLocked(limit rate.Limit, burst int) {
	k.limit, k.burst, k.idle = limit, burst, 0
	if limit != rate.Inf {
		k.idle = time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	}
	k.unlimited.Store(limit == rate.Inf)
}

// Allow takes a token from key's bucket if one is available. Otherwise it
// reports false and how long until the key will have one.
func (k *Keyed) Allow(key string) (bool, time.Duration) {
	return k.AllowAt(key, time.Now())
}

// AllowAt is Allow as of time now, for callers (and tests) that already hold
// the current time.
func (k *Keyed) AllowAt(key string, now time.Time) (bool, time.Duration) {
	if k.unlimited.Load() {
		return true, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()

	k.evictIdle(now)
	b, ok := k.buckets[key]
	if ok {
		k.unlink(b)
	} else {
		if len(k.buckets) >= k.maxKeys {
			k.remove(k.victim(now))
		}
		b = &keyedBucket{key: key, lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.lastUsed = now
	k.pushFront(b)
	return allow(b.lim, now)
}

// Len returns the number of keys currently remembered.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// evictSample is how many buckets from the cold end victim weighs.
const evictSample = 16

// victim returns the bucket to forget when the table is full: among the
// evictSample least recently used, the one with the most tokens at now
// (the coldest of equals). A bucket spent further than its neighbours stays,
// and climbs towards the cold end, where it keeps being passed over for as
// long as fuller buckets are there. The table is not empty.
func (k *Keyed) victim(now time.Time) *keyedBucket {
	best := k.lru.prev
	most := best.lim.TokensAt(now)
	b := best.prev
	for i := 1; i < evictSample && b != &k.lru; i, b = i+1, b.prev {
		if tokens := b.lim.TokensAt(now); tokens > most {
			best, most = b, tokens
		}
	}
	return best
}

// evictIdle drops a few buckets from the cold end that have refilled
// completely. Doing a bounded amount of work per call keeps Allow O(1) while
// the table still shrinks steadily once traffic moves on.
func (k *Keyed) evictIdle(now time.Time) {
	const perCall = 2
	for range perCall {
		b := k.lru.prev
		if b == &k.lru || now.Sub(b.lastUsed) < k.idle {
			return
		}
		k.remove(b)
	}
}

func (k *Keyed) remove(b *keyedBucket) {
	k.unlink(b)
	delete(k.buckets, b.key)
}

func (k *Keyed) unlink(b *keyedBucket) {
	b.prev.next = b.next
	b.next.prev = b.prev
	b.prev, b.next = nil, nil
}

func (k *Keyed) pushFront(b *keyedBucket) {
	b.prev = &k.lru
	b.next = k.lru.next
	k.lru.next.prev = b
	k.lru.next = b
}

// KeyedMiddleware rejects calls with Error while the bucket of the call's key
// has no tokens. key extracts the key from the call, for example the user id
// from the context; calls with an empty key share one bucket.
func KeyedMiddleware(k *Keyed, key func(ctx context.Context, request any) string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			if ok, wait := k.Allow(key(ctx, request)); !ok {
				return nil, Error(wait)
			}
			return next(ctx, request)
		}
	}
}
