package product

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ReadCacheControl is what the catalog's reads tell caches. Browsers and
// other private caches revalidate every time (max-age=0): they hear no
// change events. Shared caches may keep an answer for a minute (s-maxage);
// the gateway's, which drops an answer on the product.changed event of its
// product, in practice until it changes. stale-if-error lets a shared cache
// answer from what it holds for five more minutes while the catalog cannot
// be reached (RFC 5861); the gateway bounds that with its own setting too.
const ReadCacheControl = "public, max-age=0, s-maxage=60, stale-if-error=300"

// Header values set on every read, shared rather than allocated per
// response; net/http only reads them.
var (
	readCacheControl = []string{ReadCacheControl}
	jsonContentType  = []string{"application/json; charset=utf-8"}
)

// fnv64a is FNV-1a over b, without hash/fnv's allocation.
func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

type ifNoneMatchKey struct{}

// withIfNoneMatch keeps the request's If-None-Match for the encoder, which
// answers 304 when the representation has not changed.
func withIfNoneMatch(ctx context.Context, r *http.Request) context.Context {
	if v := r.Header.Get("If-None-Match"); v != "" {
		return context.WithValue(ctx, ifNoneMatchKey{}, v)
	}
	return ctx
}

// encodeCacheable writes body, a JSON document, with the validators caches
// need: a strong ETag (a hash of the body, so two instances agree on it
// without sharing state) and Last-Modified, and ReadCacheControl. A
// request whose If-None-Match names the ETag gets 304 without a body (RFC
// 9110, section 13.1.2).
func encodeCacheable(ctx context.Context, w http.ResponseWriter, body []byte, modified time.Time) error {
	setStale(ctx, w)
	// The ETag and Last-Modified values share one allocation, and are set
	// under their canonical keys, as Header.Set would.
	var buf [64]byte
	b := strconv.AppendUint(append(buf[:0], '"'), fnv64a(body), 36)
	b = append(b, '"')
	n := len(b)
	if !modified.IsZero() {
		b = modified.UTC().AppendFormat(b, http.TimeFormat)
	}
	s := string(b)
	vals := []string{s[:n], s[n:]}
	hdr := w.Header()
	hdr["Etag"] = vals[0:1:1]
	hdr["Cache-Control"] = readCacheControl
	if !modified.IsZero() {
		hdr["Last-Modified"] = vals[1:2:2]
	}
	if inm, ok := ctx.Value(ifNoneMatchKey{}).(string); ok && etagMatches(inm, vals[0]) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hdr["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	w.Write(body) // a failed write means the client is gone; nothing to do
	return nil
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110, section
// 13.1.2): "*" or any listed tag equal to etag, with or without W/.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// lastModified is the newest change among products.
func lastModified(products []Product) time.Time {
	var t time.Time
	for _, p := range products {
		if p.UpdatedAt.After(t) {
			t = p.UpdatedAt
		}
	}
	return t
}
