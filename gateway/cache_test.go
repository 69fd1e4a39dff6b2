package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// catalog stands in for the product service: its answer is "v<version>",
// with the given Cache-Control, an ETag naming the version, and 304 for an
// If-None-Match that names it.
type catalog struct {
	version      atomic.Int64
	cacheControl string
	fail         atomic.Bool  // answer 500
	hang         atomic.Bool  // answer after 2 s
	delay        atomic.Int64 // nanoseconds before answering
	conditional  atomic.Int64 // requests with If-None-Match
	extra        http.Header  // added to every answer; set before the first request
}

func (c *catalog) handler(w http.ResponseWriter, r *http.Request) {
	if c.hang.Load() {
		time.Sleep(2 * time.Second)
	}
	time.Sleep(time.Duration(c.delay.Load()))
	if c.fail.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	v := c.version.Load()
	etag := fmt.Sprintf(`"v%d"`, v)
	w.Header().Set("Cache-Control", c.cacheControl)
	w.Header().Set("ETag", etag)
	for k, v := range c.extra {
		w.Header()[k] = v
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		c.conditional.Add(1)
		if inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	body := fmt.Sprintf("v%d", v)
	if auth := r.Header.Get("Authorization"); auth != "" {
		body += " for " + auth
	}
	fmt.Fprint(w, body)
}

const sharedCacheControl = "public, max-age=0, s-maxage=60"

// cachedGateway is a gateway with a cache in front of a catalog instance,
// its route public for GETs.
func cachedGateway(t *testing.T, cc string, cfg gateway.CacheConfig, live bool) (*testGateway, *gateway.Cache, *catalog, *upstream) {
	t.Helper()
	cat := &catalog{cacheControl: cc}
	up := newUpstream(t, "p1", cat.handler)
	cache, err := gateway.NewCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cache.SetLive(live)
	svc := serviceName(t)
	tg := newGateway(t, gateway.Config{Cache: cache}, gateway.Route{
		Prefix: "/api/v1/products", Service: svc,
		Instances: []consul.Instance{up.instance(svc)},
		Public:    mustPublic(t, "GET /api/v1/products"),
	})
	return tg, cache, cat, up
}

func cacheStatus(resp *http.Response) string { return resp.Header.Get("Cache-Status") }

func TestCacheHitAfterMiss(t *testing.T) {
	tg, _, _, up := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, true)
	resp, body := tg.get(t, "/api/v1/products/1")
	if body != "v0" || !strings.Contains(cacheStatus(resp), "fwd=miss") || !strings.Contains(cacheStatus(resp), "stored") {
		t.Fatalf("first GET: %q, Cache-Status %q; want v0, a stored miss", body, cacheStatus(resp))
	}
	resp, body = tg.get(t, "/api/v1/products/1")
	if body != "v0" || !strings.HasPrefix(cacheStatus(resp), "kitshop-gateway; hit; ttl=") {
		t.Fatalf("second GET: %q, Cache-Status %q; want v0, a hit", body, cacheStatus(resp))
	}
	if resp.Header.Get("Age") == "" {
		t.Error("a hit without Age")
	}
	resp, body = tg.do(t, http.MethodHead, "/api/v1/products/1", nil, nil)
	if body != "" || !strings.Contains(cacheStatus(resp), "hit") || resp.ContentLength != 2 {
		t.Errorf("HEAD: body %q, Cache-Status %q, length %d; want no body, a hit, length 2", body, cacheStatus(resp), resp.ContentLength)
	}
	resp, _ = tg.do(t, http.MethodGet, "/api/v1/products/1", nil, http.Header{"If-None-Match": {`"v0"`}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match of the stored answer: %d, want 304", resp.StatusCode)
	}
	if got := up.hits.Load(); got != 1 {
		t.Errorf("upstream saw %d requests, want 1", got)
	}
	// A client may ask for the service's confirmation, or for nothing
	// kept.
	resp, _ = tg.do(t, http.MethodGet, "/api/v1/products/1", nil, http.Header{"Cache-Control": {"no-cache"}})
	if !strings.Contains(cacheStatus(resp), "fwd=stale; fwd-status=304") {
		t.Errorf("no-cache: Cache-Status %q, want a revalidation", cacheStatus(resp))
	}
	for _, h := range []http.Header{{"Cache-Control": {"no-store"}}, {"Range": {"bytes=0-0"}}} {
		resp, _ = tg.do(t, http.MethodGet, "/api/v1/products/1", nil, h)
		if cacheStatus(resp) != "" {
			t.Errorf("%v: Cache-Status %q, want the cache left alone", h, cacheStatus(resp))
		}
	}
	if got := up.hits.Load(); got != 4 {
		t.Errorf("upstream saw %d requests, want 4", got)
	}
	// Another query is another answer.
	if resp, _ := tg.get(t, "/api/v1/products/1?x=1"); !strings.Contains(cacheStatus(resp), "fwd=miss") {
		t.Errorf("other query: Cache-Status %q, want a miss", cacheStatus(resp))
	}
}

// TestCacheNotStored checks the answers and requests the cache leaves alone.
func TestCacheNotStored(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		header       http.Header
		wantStatus   string // in Cache-Status of the second request
	}{
		{"private", "private, max-age=60", nil, "fwd=miss"},
		{"no-store", "no-store", nil, "fwd=miss"},
		{"no-cache", "no-cache", nil, "fwd=miss"},
		{"no directive", "", nil, "fwd=miss"},
		{"stale at the service", sharedCacheControl, nil, "fwd=miss"},
		{"authorization", sharedCacheControl, http.Header{"Authorization": {"Bearer x"}}, "fwd=bypass"},
		{"cookie", sharedCacheControl, http.Header{"Cookie": {"session=1"}}, "fwd=bypass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, cache, cat, up := cachedGateway(t, tt.cacheControl, gateway.CacheConfig{}, true)
			if tt.name == "stale at the service" {
				cat.extra = http.Header{"Warning": {`110 - "Response is Stale"`}}
			}
			var resp *http.Response
			for range 2 {
				resp, _ = tg.do(t, http.MethodGet, "/api/v1/products/1", nil, tt.header)
			}
			if !strings.Contains(cacheStatus(resp), tt.wantStatus) {
				t.Errorf("Cache-Status %q, want %s", cacheStatus(resp), tt.wantStatus)
			}
			if got := up.hits.Load(); got != 2 {
				t.Errorf("upstream saw %d requests, want 2", got)
			}
			if cache.Len() != 0 {
				t.Errorf("cache holds %d answers, want none", cache.Len())
			}
		})
	}
}

// TestCacheUsersApart checks that an answer given to a caller with
// credentials never reaches another caller, and an anonymous answer is not
// given to a caller with credentials.
func TestCacheUsersApart(t *testing.T) {
	tg, _, _, _ := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, true)
	tg.get(t, "/api/v1/products/1") // the anonymous answer, stored
	for _, user := range []string{"Bearer alice", "Bearer bob"} {
		_, body := tg.do(t, http.MethodGet, "/api/v1/products/1", nil, http.Header{"Authorization": {user}})
		if want := "v0 for " + user; body != want {
			t.Errorf("as %s: %q, want %q", user, body, want)
		}
	}
	if _, body := tg.get(t, "/api/v1/products/1"); body != "v0" {
		t.Errorf("anonymous after users: %q, want v0", body)
	}
}

func TestCacheInvalidate(t *testing.T) {
	tg, cache, cat, _ := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{InvalidateSettle: 20 * time.Millisecond}, true)
	tg.get(t, "/api/v1/products/1")
	tg.get(t, "/api/v1/products/2")
	cat.version.Store(1)
	cache.Invalidate("/api/v1/products/1")
	if _, body := tg.get(t, "/api/v1/products/1"); body != "v1" {
		t.Errorf("invalidated path: %q, want v1", body)
	}
	if resp, body := tg.get(t, "/api/v1/products/2"); body != "v0" || !strings.Contains(cacheStatus(resp), "hit") {
		t.Errorf("other path: %q (%s), want the stored v0", body, cacheStatus(resp))
	}
	// The settle repeats the invalidation: an answer fetched in between
	// is fetched again.
	time.Sleep(50 * time.Millisecond)
	if resp, _ := tg.get(t, "/api/v1/products/1"); !strings.Contains(cacheStatus(resp), "fwd=") {
		t.Errorf("after the settle: Cache-Status %q, want a fetch", cacheStatus(resp))
	}
	cat.version.Store(2)
	cache.InvalidateAll()
	if _, body := tg.get(t, "/api/v1/products/2"); body != "v2" {
		t.Errorf("after InvalidateAll: %q, want v2", body)
	}
}

// TestCacheWriteThrough checks that a write through the gateway drops
// what it changed there at once: its client reads its own write.
func TestCacheWriteThrough(t *testing.T) {
	tg, _, cat, _ := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, true)
	tg.get(t, "/api/v1/products/1")
	tg.get(t, "/api/v1/products?limit=5")
	cat.version.Store(1) // what the write does
	tg.do(t, http.MethodPatch, "/api/v1/products/1", strings.NewReader("{}"), bearer(tg.signer.Token("admin")))
	for _, p := range []string{"/api/v1/products/1", "/api/v1/products?limit=5"} {
		if _, body := tg.get(t, p); body != "v1" {
			t.Errorf("%s after a write through the gateway: %q, want v1", p, body)
		}
	}
}

// TestCacheNotLiveRevalidates checks that a cache that does not hear
// changes asks the service every time, sparing it the body.
func TestCacheNotLiveRevalidates(t *testing.T) {
	tg, _, cat, up := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, false)
	tg.get(t, "/api/v1/products/1")
	resp, body := tg.get(t, "/api/v1/products/1")
	if body != "v0" || !strings.Contains(cacheStatus(resp), "fwd=stale; fwd-status=304") {
		t.Errorf("second GET: %q, Cache-Status %q; want v0 revalidated", body, cacheStatus(resp))
	}
	if up.hits.Load() != 2 || cat.conditional.Load() != 1 {
		t.Errorf("upstream: %d requests, %d conditional; want 2 and 1", up.hits.Load(), cat.conditional.Load())
	}
	cat.version.Store(1)
	if _, body := tg.get(t, "/api/v1/products/1"); body != "v1" {
		t.Errorf("after a change: %q, want v1", body)
	}
}

func TestCacheCollapsesMisses(t *testing.T) {
	tg, _, cat, up := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, true)
	cat.delay.Store(int64(200 * time.Millisecond))
	var wg sync.WaitGroup
	var collapsed atomic.Int64
	for range 20 {
		wg.Go(func() {
			resp, body := tg.get(t, "/api/v1/products/1")
			if body != "v0" {
				t.Errorf("body %q, want v0", body)
			}
			if strings.Contains(cacheStatus(resp), "collapsed") {
				collapsed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := up.hits.Load(); got != 1 {
		t.Errorf("upstream saw %d requests for 20 concurrent misses, want 1", got)
	}
	if collapsed.Load() == 0 {
		t.Error("no answer says it was collapsed")
	}
}

// TestCacheStaleIfError checks the degraded answers: the last good one,
// marked as stale, while the service fails, is hung, or has no instance;
// and none once StaleIfError has passed.
func TestCacheStaleIfError(t *testing.T) {
	const revalidate = "public, max-age=0, s-maxage=0" // stale at once
	t.Run("service fails", func(t *testing.T) {
		tg, _, cat, _ := cachedGateway(t, revalidate, gateway.CacheConfig{}, true)
		tg.get(t, "/api/v1/products/1")
		cat.fail.Store(true)
		resp, body := tg.get(t, "/api/v1/products/1")
		wantStale(t, resp, body, "stale-if-error")
	})
	t.Run("service hangs", func(t *testing.T) {
		tg, _, cat, _ := cachedGateway(t, revalidate, gateway.CacheConfig{StaleTimeout: 50 * time.Millisecond}, true)
		tg.get(t, "/api/v1/products/1")
		cat.hang.Store(true)
		start := time.Now()
		resp, body := tg.get(t, "/api/v1/products/1")
		wantStale(t, resp, body, "stale-upstream-timeout")
		if d := time.Since(start); d > time.Second {
			t.Errorf("stale answer after %v, want it after the stale timeout", d)
		}
	})
	t.Run("no instance", func(t *testing.T) {
		tg, _, _, _ := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, true)
		tg.get(t, "/api/v1/products/1")
		rt := tg.routes.Table().Routes()[0]
		rt.Instances = nil
		tg.routes.Store(mustTable(t, rt))
		resp, body := tg.get(t, "/api/v1/products/1")
		wantStale(t, resp, body, "stale-service-unavailable")
		// A write, and a read of something never stored, fail at once.
		resp, body = tg.do(t, http.MethodPatch, "/api/v1/products/1", strings.NewReader("{}"), bearer(tg.signer.Token("u1")))
		wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		resp, body = tg.get(t, "/api/v1/products/2")
		wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	})
	t.Run("invalidated, then the service fails", func(t *testing.T) {
		tg, cache, cat, _ := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, true)
		tg.get(t, "/api/v1/products/1")
		cache.Invalidate("/api/v1/products/1")
		cat.fail.Store(true)
		resp, body := tg.get(t, "/api/v1/products/1")
		wantStale(t, resp, body, "stale-if-error")
	})
	t.Run("bounded", func(t *testing.T) {
		tg, _, cat, _ := cachedGateway(t, revalidate, gateway.CacheConfig{StaleIfError: -1}, true)
		tg.get(t, "/api/v1/products/1")
		cat.fail.Store(true)
		if resp, _ := tg.get(t, "/api/v1/products/1"); resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("past StaleIfError: %d, want the service's 500", resp.StatusCode)
		}
	})
}

func wantStale(t *testing.T, resp *http.Response, body, detail string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || body != "v0" {
		t.Fatalf("got %d %q, want the stored v0", resp.StatusCode, body)
	}
	if cs := cacheStatus(resp); !strings.Contains(cs, "hit") || !strings.Contains(cs, "detail="+detail) {
		t.Errorf("Cache-Status %q, want a hit with detail=%s", cs, detail)
	}
	if w := resp.Header.Get("Warning"); !strings.HasPrefix(w, "110") {
		t.Errorf("Warning %q, want 110 (stale)", w)
	}
}
