package gateway

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// How an answer was served, for Cache-Status (RFC 9211).
const (
	servedHit         = "hit"
	servedMiss        = "fwd=miss"
	servedRevalidated = "fwd=stale"
	servedUncacheable = "fwd=request"
	servedBypass      = "fwd=bypass"
)

// fetched is the outcome of one upstream request made for the cache,
// shared by every request collapsed into it.
type fetched struct {
	entry    *cacheEntry // to serve: stored, revalidated, or passed on as it came
	kind     string      // servedMiss, servedRevalidated or servedUncacheable
	stored   bool
	failed   bool // the service could not answer: a 5xx, or the gateway's own 502/503/504
	status   int  // the upstream's status, for fwd-status
	instance string
	attempts int
}

// serveCached answers a cacheable request to a public route: from the
// cache when it can, else through one shared upstream request.
func (g *Gateway) serveCached(w http.ResponseWriter, r *http.Request, rt *Route, info *requestInfo) {
	c := g.cache
	key := keyOf(r)
	now := c.now()
	e, valid := c.lookup(key)
	if e != nil && !g.available(rt) && e.staleUsable(now) {
		c.stale.Add(1)
		writeEntry(w, r, e, now, "hit; detail=stale-service-unavailable", true)
		return
	}
	if valid && c.Live() && e.isFresh(now) && !wantsValidation(r) {
		c.hits.Add(1)
		writeHit(w, r, e, now)
		return
	}
	ep := c.epochsOf(key.path)
	// The epochs are part of the flight's key: a request that arrives after
	// an invalidation must not share a fetch that began before it.
	flight := key.path + "?" + key.query + "#" + strconv.FormatUint(ep.global, 36) + "." + strconv.FormatUint(ep.path, 36)
	ch := c.flights.DoChan(flight, func() (any, error) {
		return g.fetchForCache(r, rt, key, e, ep), nil
	})
	var fallback <-chan time.Time
	if e != nil && e.staleUsable(now) {
		t := time.NewTimer(c.staleTimeout)
		defer t.Stop()
		fallback = t.C
	}
	select {
	case res := <-ch:
		f := res.Val.(*fetched)
		if !res.Shared {
			info.instance, info.attempts = f.instance, f.attempts
		}
		if f.failed && e != nil && e.staleUsable(c.now()) {
			c.stale.Add(1)
			writeEntry(w, r, e, c.now(), "hit; detail=stale-if-error; fwd-status="+strconv.Itoa(f.status), true)
			return
		}
		status := f.kind
		if f.kind != servedUncacheable {
			status += "; fwd-status=" + strconv.Itoa(f.status)
		}
		if f.stored {
			status += "; stored"
		}
		if res.Shared {
			status += "; collapsed"
		}
		writeEntry(w, r, f.entry, c.now(), status, false)
	case <-fallback:
		c.stale.Add(1)
		writeEntry(w, r, e, c.now(), "hit; detail=stale-upstream-timeout", true)
	case <-r.Context().Done():
		w.WriteHeader(499) // the client is gone; the fetch goes on for the others
	}
}

// invalidateWritten drops, once a write through this gateway has been
// answered, what it may have changed here: its path and the route's
// collection, when they are publicly readable. Its client reads its own
// write through this gateway at once, without waiting for the change event
// (which other gateways wait for).
func (g *Gateway) invalidateWritten(r *http.Request, rt *Route) {
	if g.cache == nil || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return
	}
	if rt.Public.Allows(http.MethodGet, r.URL.Path, r.URL.RawPath) {
		g.cache.Invalidate(r.URL.Path, rt.Prefix)
	}
}

// available reports whether some instance of the route's service may be
// asked: it has healthy instances, and not every one has an open breaker
// or has stopped answering.
func (g *Gateway) available(rt *Route) bool {
	for _, in := range rt.Instances {
		if g.breakers.get(rt.Service, in.ID).usable() {
			return true
		}
	}
	return false
}

// fetchForCache makes the upstream request for key, revalidating prior when
// it has an ETag, and stores what may be stored. It runs detached from the
// client that started it: collapsed requests wait for it too, and a
// refreshed answer is worth having after its first client has gone.
func (g *Gateway) fetchForCache(r *http.Request, rt *Route, key cacheKey, prior *cacheEntry, ep epochs) *fetched {
	c := g.cache
	info := &requestInfo{prefix: rt.Prefix, service: rt.Service}
	ctx := context.WithValue(context.WithoutCancel(r.Context()), infoKey{}, info)
	out := r.Clone(ctx)
	out.Method = http.MethodGet // a HEAD fills the cache for the GETs too
	out.Body, out.ContentLength = http.NoBody, 0
	// The client's own conditions are answered from the stored answer;
	// the service is asked for the whole one, or about the gateway's copy.
	out.Header.Del("If-None-Match")
	out.Header.Del("If-Modified-Since")
	revalidating := prior != nil && prior.etag != ""
	if revalidating {
		out.Header.Set("If-None-Match", prior.etag)
	}
	rec := &captureWriter{header: make(http.Header)}
	g.forward(rec, out, rt, info)
	received := c.now()
	f := &fetched{status: rec.code(), instance: info.instance, attempts: info.attempts, kind: servedUncacheable}
	f.failed = f.status >= http.StatusInternalServerError
	if revalidating && f.status == http.StatusNotModified {
		// The copy is still good: keep its body with the fresh metadata.
		next := cacheEntry{status: prior.status, body: prior.body, etag: prior.etag, length: prior.length}
		next.header = prior.header.Clone()
		// The 304's headers update the stored ones (RFC 9111, 4.3.4).
		for h, v := range rec.header {
			if h != "Content-Length" {
				next.header[h] = v
			}
		}
		cc := parseCacheControl(next.header.Values("Cache-Control"))
		next.received, next.age, next.epochs = received, parseAge(rec.header), ep
		next.fresh = cc.freshness()
		next.staleIfError = c.staleBound(cc)
		c.revalided.Add(1)
		f.entry, f.kind = &next, servedRevalidated
		if _, stale := rec.header["Warning"]; !stale { // the service's own copy was stale: pass it on, keep ours
			c.store.Set(key, &next)
			f.stored = true
		}
		return f
	}
	e := &cacheEntry{status: f.status, header: rec.header, body: rec.body.Bytes(), received: received}
	f.entry = e
	if rec.overflow {
		e.status, e.body = http.StatusBadGateway, nil
		e.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
		f.failed, f.status = true, http.StatusBadGateway
		return f
	}
	c.misses.Add(1)
	f.kind = servedMiss
	cc, ok := storable(f.status, rec.header)
	if !ok || len(e.body) > maxCachedBody {
		return f
	}
	e.etag = rec.header.Get("ETag")
	e.length = []string{strconv.Itoa(len(e.body))}
	e.age, e.fresh, e.staleIfError, e.epochs = parseAge(rec.header), cc.freshness(), c.staleBound(cc), ep
	delete(e.header, "Age")
	c.store.Set(key, e)
	f.stored = true
	return f
}

// staleBound is how long past freshness an answer may serve while the
// service is out: the gateway's setting, shortened by the service's own
// stale-if-error.
func (c *Cache) staleBound(cc cacheControl) time.Duration {
	if cc.staleIfError >= 0 {
		return min(cc.staleIfError, c.staleIfError)
	}
	return c.staleIfError
}

// writeEntry answers with a stored (or shared) answer, with its Age, a
// Cache-Status, and the stale mark when it is served past its freshness or
// in place of the service. A client's If-None-Match that names the
// answer's ETag gets a 304.
func writeEntry(w http.ResponseWriter, r *http.Request, e *cacheEntry, now time.Time, status string, stale bool) {
	h := w.Header()
	for k, vs := range e.header {
		// Shared with every request it answers: capped, so an append by a
		// later handler copies instead of writing into the stored array.
		h[k] = vs[:len(vs):len(vs)]
	}
	if e.fresh > 0 || e.etag != "" {
		h.Set("Age", strconv.FormatInt(int64(e.currentAge(now)/time.Second), 10))
	}
	if strings.HasPrefix(status, servedHit) {
		// Negative once past freshness: a stale answer (RFC 9211, 2.5).
		status += "; ttl=" + strconv.FormatInt(int64((e.fresh-e.currentAge(now))/time.Second), 10)
	}
	h.Set(headerCacheStatus, cacheStatusName+"; "+status)
	if stale {
		h.Set(headerWarning, staleWarning)
	}
	if e.etag != "" && e.status == http.StatusOK {
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, e.etag) {
			h.Del("Content-Length")
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if e.body != nil {
		h.Set("Content-Length", strconv.Itoa(len(e.body)))
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(e.body) // a failed write means the client is gone
	}
}

// writeHit answers with a fresh stored answer, its per-second headers
// computed once per second rather than per request.
func writeHit(w http.ResponseWriter, r *http.Request, e *cacheEntry, now time.Time) {
	age := int64(e.currentAge(now) / time.Second)
	hh := e.hit.Load()
	if hh == nil || hh.age != age {
		ttl := int64((e.fresh - e.currentAge(now)) / time.Second)
		hh = &hitHeaders{age: age, ageV: []string{strconv.FormatInt(age, 10)},
			statusV: []string{cacheStatusName + "; " + servedHit + "; ttl=" + strconv.FormatInt(ttl, 10)}}
		e.hit.Store(hh)
	}
	h := w.Header()
	for k, vs := range e.header {
		h[k] = vs[:len(vs):len(vs)]
	}
	h["Age"] = hh.ageV
	h[headerCacheStatus] = hh.statusV
	if e.etag != "" {
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, e.etag) {
			h.Del("Content-Length")
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h["Content-Length"] = e.length
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(e.body) // a failed write means the client is gone
	}
}

// etagListMatches is If-None-Match's weak comparison (RFC 9110, 13.1.2).
func etagListMatches(header, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// captureWriter buffers the answer of a fetch made for the cache.
type captureWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body.Len()+len(p) > maxFetchedBody {
		c.overflow = true
		return 0, http.ErrContentLength
	}
	return c.body.Write(p)
}

func (c *captureWriter) code() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}
