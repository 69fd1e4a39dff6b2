package auth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

// jwksServer serves handler on loopback until the test ends.
func jwksServer(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

func serveJWKS(set string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != auth.JWKSPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, set)
	}
}

func TestHTTPJWKSFetcher(t *testing.T) {
	s := authtest.NewSigner(t)
	x := base64.RawURLEncoding.EncodeToString(s.Public)
	goodSet := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":%q,"kid":%q,"alg":"EdDSA","use":"sig"}]}`, x, s.Kid)

	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + auth.JWKSPath
	down.Close()

	good := jwksServer(t, serveJWKS(goodSet))
	failing := jwksServer(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	html := jwksServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, goodSet)
	})
	garbage := jwksServer(t, serveJWKS(`{"keys":`))
	huge := jwksServer(t, serveJWKS(`{"keys":[],"pad":"`+strings.Repeat("x", 300<<10)+`"}`))

	tests := []struct {
		name    string
		urls    []string
		wantErr bool
	}{
		{"serves", []string{good.URL + auth.JWKSPath}, false},
		{"first down, second serves", []string{downURL, good.URL + auth.JWKSPath}, false},
		{"first fails, second serves", []string{failing.URL + auth.JWKSPath, good.URL + auth.JWKSPath}, false},
		{"all down", []string{downURL, failing.URL + auth.JWKSPath}, true},
		{"wrong path", []string{good.URL + "/jwks"}, true},
		{"not JSON", []string{html.URL + auth.JWKSPath}, true},
		{"malformed JSON", []string{garbage.URL + auth.JWKSPath}, true},
		{"too large", []string{huge.URL + auth.JWKSPath}, true},
		{"no URLs", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetch := auth.HTTPJWKSFetcher(nil, func() []string { return tt.urls })
			set, err := fetch(t.Context())
			if tt.wantErr {
				if got := errs.KindOf(err); got != errs.Unavailable {
					t.Fatalf("kind = %v (err %v), want unavailable", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if len(set.Keys) != 1 || set.Keys[0] != s.JWK() {
				t.Errorf("set = %+v, want the signer's key", set)
			}
		})
	}
}

// TestHTTPJWKSFetcherWithCache wires the pieces as a service does: a
// Verifier over a JWKSCache over HTTP, with the issuer's address coming from
// discovery (here a function) and changing between fetches.
func TestHTTPJWKSFetcherWithCache(t *testing.T) {
	s := authtest.NewSigner(t)
	var (
		mu       sync.Mutex
		requests int
		accept   string
	)
	issuer := jwksServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		accept = r.Header.Get("Accept")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		fmt.Fprint(w, mustJSON(t, s.JWKS()))
	})

	var urls []string // no instance known yet
	var urlsMu sync.Mutex
	fetch := auth.HTTPJWKSFetcher(issuer.Client(), func() []string {
		urlsMu.Lock()
		defer urlsMu.Unlock()
		return urls
	})
	cache := auth.NewJWKSCache(fetch, log.NewNopLogger(), auth.WithMinRefresh(time.Millisecond))
	v := auth.NewVerifier(cache, authtest.Issuer, authtest.Audience)

	_, err := v.Verify(t.Context(), s.Token("user-1"))
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Fatalf("without an issuer instance: kind %v (err %v), want unavailable", got, err)
	}

	urlsMu.Lock()
	urls = []string{issuer.URL + auth.JWKSPath}
	urlsMu.Unlock()
	time.Sleep(2 * time.Millisecond)
	id, err := v.Verify(t.Context(), s.Token("user-1", auth.RoleCustomer))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != "user-1" || !id.HasRole(auth.RoleCustomer) {
		t.Errorf("identity = %+v", id)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 1 {
		t.Errorf("issuer saw %d requests, want 1", requests)
	}
	if !strings.Contains(accept, "application/jwk-set+json") {
		t.Errorf("Accept = %q, want it to name application/jwk-set+json", accept)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Compile-time checks that both key sources satisfy the interface.
var (
	_ auth.KeySource = (*auth.JWKSCache)(nil)
	_ auth.KeySource = auth.StaticKeys(map[string]ed25519.PublicKey{})
)
