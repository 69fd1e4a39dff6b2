package product_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/product"
)

// TestHTTPValidators checks what the catalog's reads tell caches: the
// Cache-Control, an ETag that names the representation and changes with
// it, Last-Modified, and 304 to an If-None-Match naming the current ETag.
func TestHTTPValidators(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + product.CollectionPath
	created := doJSON(t, who.admin, http.MethodPost, base, validBody)
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	item := srv.URL + created.header.Get("Location")

	for _, url := range []string{item, base + "?limit=5"} {
		first := send(t, http.MethodGet, url, nil, "")
		etag := first.header.Get("ETag")
		if first.status != http.StatusOK || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
			t.Fatalf("GET %s: status %d, ETag %q; want 200 and a strong ETag", url, first.status, etag)
		}
		if got := first.header.Get("Cache-Control"); got != product.ReadCacheControl {
			t.Errorf("GET %s: Cache-Control %q, want %q", url, got, product.ReadCacheControl)
		}
		if _, err := http.ParseTime(first.header.Get("Last-Modified")); err != nil {
			t.Errorf("GET %s: Last-Modified %q: %v", url, first.header.Get("Last-Modified"), err)
		}
		tests := []struct {
			name, ifNoneMatch string
			want              int
		}{
			{"same tag", etag, http.StatusNotModified},
			{"weak form of the tag", "W/" + etag, http.StatusNotModified},
			{"one of several", `"nope", ` + etag, http.StatusNotModified},
			{"any", "*", http.StatusNotModified},
			{"another tag", `"nope"`, http.StatusOK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := send(t, http.MethodGet, url, http.Header{"If-None-Match": {tt.ifNoneMatch}}, "")
				if r.status != tt.want {
					t.Fatalf("GET %s If-None-Match %s: %d, want %d", url, tt.ifNoneMatch, r.status, tt.want)
				}
				if tt.want == http.StatusNotModified && (len(r.body) != 0 || r.header.Get("ETag") != etag) {
					t.Errorf("304 with body %q and ETag %q, want no body and %q", r.body, r.header.Get("ETag"), etag)
				}
			})
		}
	}

	before := send(t, http.MethodGet, item, nil, "").header.Get("ETag")
	time.Sleep(10 * time.Millisecond) // a later updated_at
	if r := doJSON(t, who.admin, http.MethodPatch, item, `{"stock":42}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	after := send(t, http.MethodGet, item, http.Header{"If-None-Match": {before}}, "")
	if after.status != http.StatusOK || after.header.Get("ETag") == before {
		t.Errorf("after a change: %d with ETag %q; want 200 and a new ETag (was %q)", after.status, after.header.Get("ETag"), before)
	}
}
