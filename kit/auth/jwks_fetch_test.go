package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

// The key set decides whose tokens are believed: a JWKS URL that
// redirects elsewhere is a failed fetch, not a new source of keys.
func TestHTTPJWKSFetcherFollowsNoRedirect(t *testing.T) {
	s := authtest.NewSigner(t)
	var elsewhereHits atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhereHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.JWKS())
	}))
	t.Cleanup(elsewhere.Close)
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL+auth.JWKSPath, http.StatusFound))
	t.Cleanup(redirecting.Close)

	for name, client := range map[string]*http.Client{
		"default client": nil,
		"caller's client": {Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return nil // would follow
		}},
	} {
		t.Run(name, func(t *testing.T) {
			fetch := auth.HTTPJWKSFetcher(client, func() []string { return []string{redirecting.URL + auth.JWKSPath} })
			if set, err := fetch(t.Context()); !errs.Is(err, errs.Unavailable) {
				t.Errorf("fetch through a redirect = %+v, %v; want unavailable", set, err)
			}
		})
	}
	if n := elsewhereHits.Load(); n != 0 {
		t.Errorf("the redirect target was asked %d times", n)
	}
}

// Proxies from the environment are not used for key sets, whatever client
// is given.
func TestJWKSClientUsesNoProxy(t *testing.T) {
	proxy, _ := url.Parse("http://127.0.0.1:1")
	withProxy := &http.Transport{Proxy: http.ProxyURL(proxy)}
	for name, client := range map[string]*http.Client{
		"default client":     nil,
		"client without one": {},
		"client with proxy":  {Transport: withProxy},
	} {
		t.Run(name, func(t *testing.T) {
			got := auth.JWKSClient(client)
			tr, ok := got.Transport.(*http.Transport)
			if !ok || tr.Proxy != nil {
				t.Errorf("transport %T has a proxy function", got.Transport)
			}
			if got.CheckRedirect == nil {
				t.Error("redirects are followed")
			}
		})
	}
	if withProxy.Proxy == nil {
		t.Error("the caller's transport was changed")
	}
}
