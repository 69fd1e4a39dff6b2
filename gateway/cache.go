package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Defaults of CacheConfig.
const (
	DefaultCacheMaxBytes     = 32 << 20
	DefaultStaleIfError      = 5 * time.Minute
	DefaultStaleTimeout      = time.Second
	DefaultInvalidateSettle  = 250 * time.Millisecond
	maxCachedBody            = 1 << 20  // larger answers are passed on, not stored
	maxFetchedBody           = 16 << 20 // a shared fetch buffers the answer for every waiter
	maxInvalidatedPaths      = 100_000  // epochs kept per path before starting over
	cacheStatusName          = "kitshop-gateway"
	headerCacheStatus        = "Cache-Status"
	headerWarning            = "Warning"
	staleWarning             = `110 - "Response is Stale"`
	cacheControlNoStoreValue = "no-store"
)

// CacheConfig configures the gateway's response cache (see NewCache).
type CacheConfig struct {
	// MaxBytes bounds the memory of the stored responses (bodies, headers
	// and keys); zero means DefaultCacheMaxBytes.
	MaxBytes int64
	// StaleIfError is how long past its freshness a stored answer may still
	// be served, marked as stale, while the service cannot answer (RFC
	// 5861): every instance failed or its breaker is open, or there is no
	// healthy instance. An upstream's own stale-if-error shortens it.
	// Negative disables serving stale answers; zero means
	// DefaultStaleIfError.
	StaleIfError time.Duration
	// StaleTimeout is how long a request that has a stale answer to fall
	// back on waits for the service before it gets that answer; the fetch
	// goes on and refreshes the cache if it succeeds. Zero means
	// DefaultStaleTimeout.
	StaleTimeout time.Duration
	// InvalidateSettle is when an invalidation is repeated: an instance of
	// the service may not have seen the change yet when the event arrives,
	// and an answer it gave in the meantime must not stay. Zero means
	// DefaultInvalidateSettle.
	InvalidateSettle time.Duration
}

// Cache is the gateway's shared response cache for public GETs. It stores
// what the services allow (Cache-Control public, s-maxage or max-age; never
// private, no-store, no-cache, Set-Cookie or Vary), within a memory bound,
// and serves an answer fresh only while it hears every change
// (SetLive): the services' change events drive Invalidate, so an update is
// visible through every gateway within the event's delivery time. While it
// does not hear them, every read is revalidated with the service
// (If-None-Match), which still spares the service the body. Requests with
// Authorization or Cookie are never answered from it and never stored.
//
// Identical concurrent misses are collapsed into one upstream request
// (singleflight). When the service cannot answer, the last good answer is
// served for up to StaleIfError, marked as stale (Warning 110 and
// Cache-Status).
type Cache struct {
	store            *otter.Cache[cacheKey, *cacheEntry]
	staleIfError     time.Duration
	staleTimeout     time.Duration
	settle           time.Duration
	live             atomic.Bool
	global           atomic.Uint64 // bumped by InvalidateAll
	paths            sync.Map      // path → *atomic.Uint64, bumped by Invalidate
	npaths           atomic.Int64
	flights          singleflight.Group
	now              func() time.Time
	hits, misses     atomic.Int64
	stale, revalided atomic.Int64
}

// NewCache returns an empty cache that does not serve fresh answers until
// SetLive(true).
func NewCache(cfg CacheConfig) (*Cache, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultCacheMaxBytes
	}
	if cfg.StaleIfError == 0 {
		cfg.StaleIfError = DefaultStaleIfError
	}
	if cfg.StaleTimeout <= 0 {
		cfg.StaleTimeout = DefaultStaleTimeout
	}
	if cfg.InvalidateSettle <= 0 {
		cfg.InvalidateSettle = DefaultInvalidateSettle
	}
	store, err := otter.New(&otter.Options[cacheKey, *cacheEntry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher:       func(k cacheKey, e *cacheEntry) uint32 { return uint32(len(k.path)+len(k.query)) + e.weight() },
	})
	if err != nil {
		return nil, err
	}
	return &Cache{
		store:        store,
		staleIfError: max(cfg.StaleIfError, 0),
		staleTimeout: cfg.StaleTimeout,
		settle:       cfg.InvalidateSettle,
		now:          time.Now,
	}, nil
}

// SetLive tells the cache whether it hears every change now. Going live
// invalidates everything stored: changes may have been missed before.
func (c *Cache) SetLive(live bool) {
	if live {
		c.InvalidateAll()
	}
	c.live.Store(live)
}

// Live reports whether the cache serves fresh answers.
func (c *Cache) Live() bool { return c.live.Load() }

// Invalidate invalidates the answers for each path (whatever their
// query), at once and again after the settle time.
func (c *Cache) Invalidate(paths ...string) {
	c.bump(paths)
	time.AfterFunc(c.settle, func() { c.bump(paths) })
}

func (c *Cache) bump(paths []string) {
	for _, p := range paths {
		if v, ok := c.paths.Load(p); ok {
			v.(*atomic.Uint64).Add(1)
			continue
		}
		if c.npaths.Add(1) > maxInvalidatedPaths {
			// Start over rather than grow without bound: dropping
			// everything is always correct.
			c.paths.Clear()
			c.npaths.Store(0)
			c.InvalidateAll()
			return
		}
		v, _ := c.paths.LoadOrStore(p, new(atomic.Uint64))
		v.(*atomic.Uint64).Add(1)
	}
}

// InvalidateAll invalidates every stored answer. They stay in memory as
// the last good answers, for stale-if-error, until replaced or evicted.
func (c *Cache) InvalidateAll() { c.global.Add(1) }

// Collectors export the cache's counters and size for Prometheus.
func (c *Cache) Collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "kitshop", Name: "gateway_cache_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("hits_total", "Public GETs answered fresh from the gateway's cache.", &c.hits),
		counter("misses_total", "Public GETs the cache sent to the service (one per collapsed group).", &c.misses),
		counter("revalidated_total", "Stored answers the service confirmed with a 304.", &c.revalided),
		counter("stale_total", "Stored answers served marked as stale, in place of the service.", &c.stale),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kitshop", Name: "gateway_cache_entries", Help: "Answers stored in the gateway's cache."},
			func() float64 { return float64(c.Len()) }),
	}
}

// Len returns the number of stored answers.
func (c *Cache) Len() int { return c.store.EstimatedSize() }

// epochs is the state of invalidation an answer was fetched under.
type epochs struct{ global, path uint64 }

func (c *Cache) epochsOf(path string) epochs {
	e := epochs{global: c.global.Load()}
	if v, ok := c.paths.Load(path); ok {
		e.path = v.(*atomic.Uint64).Load()
	}
	return e
}

// lookup returns the stored answer for key, and whether it is still valid:
// not invalidated since it was fetched. An invalidated answer is no longer
// served as fresh, but it is still the last good one: the one to revalidate
// (its ETag may still be current) and to serve, marked as stale, while the
// service cannot answer.
func (c *Cache) lookup(key cacheKey) (*cacheEntry, bool) {
	e, ok := c.store.GetIfPresent(key)
	if !ok {
		return nil, false
	}
	return e, e.epochs == c.epochsOf(key.path)
}

// cacheEntry is one stored answer. It is immutable once stored.
type cacheEntry struct {
	status       int
	header       http.Header
	body         []byte
	etag         string
	received     time.Time     // when the gateway got it
	age          time.Duration // its Age then
	fresh        time.Duration // freshness lifetime (s-maxage, else max-age)
	staleIfError time.Duration // past freshness, while the service is out
	epochs       epochs
	length       []string // Content-Length, shared by every answer
	// hit memoizes the per-second headers of a fresh hit.
	hit atomic.Pointer[hitHeaders]
}

// hitHeaders are Age and Cache-Status of a fresh hit within one second of
// the entry's age: the same for every hit in that second.
type hitHeaders struct {
	age           int64
	ageV, statusV []string
}

func (e *cacheEntry) weight() uint32 {
	w := 256 + len(e.body)
	for k, vs := range e.header {
		w += len(k)
		for _, v := range vs {
			w += len(v)
		}
	}
	return uint32(w)
}

// currentAge is RFC 9111's current_age, simplified: the gateway is the
// only cache between the service and its clock.
func (e *cacheEntry) currentAge(now time.Time) time.Duration {
	return e.age + max(now.Sub(e.received), 0)
}

func (e *cacheEntry) isFresh(now time.Time) bool { return e.currentAge(now) < e.fresh }

func (e *cacheEntry) staleUsable(now time.Time) bool {
	return e.currentAge(now) < e.fresh+e.staleIfError
}

// cacheableRequest reports whether a request to a public route may be
// answered from the cache: a GET or HEAD without a body, without
// credentials, without Range and without Cache-Control no-store. A request with credentials is answered by the service, for
// that caller alone.
func cacheableRequest(r *http.Request) (ok, credentials bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false, false
	}
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return false, false
	}
	if _, auth := r.Header["Authorization"]; auth {
		return false, true
	}
	if _, cookie := r.Header["Cookie"]; cookie {
		return false, true
	}
	if _, ok := r.Header["Range"]; ok {
		// A part of an answer: the gateway stores whole answers only, and
		// a 206 must not be shared with requests collapsed into its fetch.
		return false, false
	}
	if v, ok := r.Header["Cache-Control"]; ok && parseCacheControl(v).noStore {
		return false, false // the client wants nothing kept (RFC 9111, 5.2.1.5)
	}
	return true, false
}

// wantsValidation reports whether the client asked that no stored answer be
// used without the service confirming it: Cache-Control no-cache or
// max-age=0 (RFC 9111, 5.2.1.4 and 5.2.1.1). The gateway then revalidates,
// which costs the service a 304 rather than the whole answer.
func wantsValidation(r *http.Request) bool {
	v, ok := r.Header["Cache-Control"]
	if !ok {
		return false
	}
	cc := parseCacheControl(v)
	return cc.noCache || cc.maxAge == 0
}

// cacheKey is the path and the raw query: a HEAD shares the GET's answer.
// A struct rather than one string spares a concatenation per request.
type cacheKey struct{ path, query string }

func keyOf(r *http.Request) cacheKey { return cacheKey{r.URL.Path, r.URL.RawQuery} }

// cacheControl is the part of a Cache-Control header the cache obeys.
type cacheControl struct {
	public, private, noStore, noCache bool
	maxAge, sMaxAge, staleIfError     time.Duration // -1 when absent
}

func parseCacheControl(values []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, staleIfError: -1}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			secs := func() time.Duration {
				n, err := strconv.ParseInt(strings.Trim(arg, `"`), 10, 64)
				if err != nil || n < 0 {
					return 0
				}
				return time.Duration(min(n, 365*24*3600)) * time.Second
			}
			switch strings.ToLower(name) {
			case "public":
				cc.public = true
			case "private":
				cc.private = true
			case cacheControlNoStoreValue:
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "max-age":
				cc.maxAge = secs()
			case "s-maxage":
				cc.sMaxAge = secs()
			case "stale-if-error":
				cc.staleIfError = secs()
			}
		}
	}
	return cc
}

// storable reports whether a response may be stored, and for how long it is
// fresh: a 200 the service marked public or gave a shared lifetime, without
// Set-Cookie, Vary or Warning, and not marked private, no-store or
// no-cache.
func storable(status int, h http.Header) (cacheControl, bool) {
	cc := parseCacheControl(h.Values("Cache-Control"))
	if status != http.StatusOK || cc.private || cc.noStore || cc.noCache {
		return cc, false
	}
	if _, ok := h["Set-Cookie"]; ok {
		return cc, false
	}
	if _, ok := h["Vary"]; ok {
		return cc, false
	}
	if _, ok := h["Warning"]; ok {
		// The service itself answered from a stale copy (its database
		// was out): not an answer to keep as fresh.
		return cc, false
	}
	return cc, cc.public || cc.sMaxAge >= 0 || cc.maxAge >= 0
}

// freshness is the shared lifetime Cache-Control gives.
func (cc cacheControl) freshness() time.Duration {
	if cc.sMaxAge >= 0 {
		return cc.sMaxAge
	}
	return max(cc.maxAge, 0)
}

func parseAge(h http.Header) time.Duration {
	n, err := strconv.ParseInt(h.Get("Age"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
