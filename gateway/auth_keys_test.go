package gateway_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
)

// TestUserRateLimit: authenticated users have buckets of their own, on top
// of, and independent from, the per-client ones.
func TestUserRateLimit(t *testing.T) {
	tests := []struct {
		name string
		cfg  gateway.Config
		// requests, in order, as user ("" for a public request without a
		// token), and the status each should get
		calls []call
	}{
		{
			name: "per user",
			cfg:  gateway.Config{RateLimit: 100, RateBurst: 100, UserRateLimit: 0.5, UserRateBurst: 2},
			calls: []call{
				{"alice", http.StatusOK}, {"alice", http.StatusOK}, {"alice", http.StatusTooManyRequests},
				{"bob", http.StatusOK}, {"bob", http.StatusOK}, {"bob", http.StatusTooManyRequests},
				// Public routes are not authenticated and not limited per user.
				{"", http.StatusOK}, {"", http.StatusOK}, {"", http.StatusOK},
			},
		},
		{
			name: "per client across users",
			cfg:  gateway.Config{RateLimit: 0.5, RateBurst: 3, UserRateLimit: 100, UserRateBurst: 100},
			calls: []call{
				{"alice", http.StatusOK}, {"bob", http.StatusOK}, {"carol", http.StatusOK}, {"dave", http.StatusTooManyRequests},
			},
		},
		{
			name:  "per user limit disabled",
			cfg:   gateway.Config{},
			calls: []call{{"alice", http.StatusOK}, {"alice", http.StatusOK}, {"alice", http.StatusOK}, {"alice", http.StatusOK}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := serviceName(t)
			up := newUpstream(t, svc+"-1", nil)
			gw := newGateway(t, tt.cfg, userRoutes(t, svc, up)...)
			var wantHits int64
			for i, c := range tt.calls {
				path, header := "/api/v1/users/me", bearer(gw.signer.Token(c.user))
				if c.user == "" {
					path, header = "/api/v1/auth/jwks.json", nil
				}
				resp, body := gw.do(t, http.MethodGet, path, nil, header)
				if resp.StatusCode != c.wantStatus {
					t.Fatalf("call %d as %q: status = %d, want %d (body %s)", i, c.user, resp.StatusCode, c.wantStatus, body)
				}
				if c.wantStatus == http.StatusTooManyRequests {
					wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
					if ra := resp.Header.Get("Retry-After"); ra != "2" {
						t.Errorf("call %d: Retry-After = %q, want 2", i, ra)
					}
				} else {
					wantHits++
				}
			}
			if got := up.hits.Load(); got != wantHits {
				t.Errorf("upstream got %d requests, want the %d within the limits", got, wantHits)
			}
			if tt.name == "per user" {
				gw.logs.Wait(t, logWait, "status=429", "user_id=alice")
			}
		})
	}
}

type call struct {
	user       string
	wantStatus int
}

// jwksServer stands in for the user service's key endpoint; it serves the
// key set of signer until broken is set.
type jwksServer struct {
	*httptest.Server
	broken  atomic.Bool
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, signer *authtest.Signer) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		if j.broken.Load() || r.URL.Path != auth.JWKSPath {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	}))
	t.Cleanup(j.Close)
	return j
}

// TestAuthJWKSOutage: when the keys cannot be fetched, a protected request
// gets 503 with Retry-After (not a 401 that would send the client to log in
// again) and is not forwarded; public routes keep working, and so do tokens
// signed with keys fetched before the outage.
func TestAuthJWKSOutage(t *testing.T) {
	tests := []struct {
		name       string
		knownFirst bool // the keys were fetched before the outage
		wantStatus int
		// A token signed with a key the gateway does not know is a 503 as
		// long as the key might exist (no key set fetched yet), and a 401
		// once a fresh key set says it does not.
		wantUnknownKid int
	}{
		{"keys never fetched", false, http.StatusServiceUnavailable, http.StatusServiceUnavailable},
		{"keys fetched before", true, http.StatusOK, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := authtest.NewSigner(t)
			keyServer := newJWKSServer(t, signer)
			keys := auth.NewJWKSCache(auth.HTTPJWKSFetcher(keyServer.Client(), func() []string {
				return []string{keyServer.URL + auth.JWKSPath}
			}), nil)
			if tt.knownFirst {
				if err := keys.Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			keyServer.broken.Store(true)

			svc := serviceName(t)
			up := newUpstream(t, svc+"-1", nil)
			gw := newGateway(t, gateway.Config{Keys: keys}, userRoutes(t, svc, up)...)

			resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, bearer(signer.Token("alice")))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == http.StatusServiceUnavailable {
				wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
				if resp.Header.Get("Retry-After") == "" {
					t.Error("no Retry-After header")
				}
				if got := up.hits.Load(); got != 0 {
					t.Errorf("upstream got %d requests it should not have", got)
				}
			}
			resp, body = gw.do(t, http.MethodGet, "/api/v1/users/me", nil, bearer(authtest.NewSigner(t).Token("alice")))
			if resp.StatusCode != tt.wantUnknownKid {
				t.Errorf("unknown kid: status = %d, want %d (body %s)", resp.StatusCode, tt.wantUnknownKid, body)
			}

			before := up.hits.Load()
			resp, body = gw.do(t, http.MethodPost, "/api/v1/auth/login", strings.NewReader("{}"), nil)
			if resp.StatusCode != http.StatusOK || up.hits.Load() != before+1 {
				t.Errorf("public route during the outage: status = %d (body %s), want it forwarded", resp.StatusCode, body)
			}
		})
	}
}

// TestMultiplePrefixes: one service routed under two prefixes answers on
// both, with the same instances.
func TestMultiplePrefixes(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	gw := newGateway(t, gateway.Config{}, userRoutes(t, svc, up)...)
	token := gw.signer.Token("alice")
	for _, path := range []string{"/api/v1/users/me", "/api/v1/auth/sessions", "/api/v1/auth"} {
		resp, body := gw.do(t, http.MethodGet, path, nil, bearer(token))
		if resp.StatusCode != http.StatusOK || body != path {
			t.Errorf("GET %s = %d %q, want 200 from the service", path, resp.StatusCode, body)
		}
		line := gw.logs.Wait(t, logWait, "path="+path+" ", "msg=request")
		if !strings.Contains(line, "service="+svc) {
			t.Errorf("access log line does not name the service:\n%s", line)
		}
	}
}

// countingKeys counts the key lookups of verifications.
type countingKeys struct {
	auth.KeySource
	lookups atomic.Int64
}

func (k *countingKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	k.lookups.Add(1)
	return k.KeySource.PublicKey(ctx, kid)
}

// TestAuthRemembersAcceptedTokens checks that a token sent again is not
// verified again, while a forged one is checked (and refused) every time.
func TestAuthRemembersAcceptedTokens(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	signer := authtest.NewSigner(t)
	keys := &countingKeys{KeySource: signer.KeySource()}
	gw := newGateway(t, gateway.Config{Keys: keys}, userRoutes(t, svc, up)...)

	token := signer.Token("user-42", auth.RoleCustomer)
	for i := range 3 {
		resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, http.Header{"Authorization": {"Bearer " + token}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("request %d: status %d, want the upstream's 201 (body %s)", i, resp.StatusCode, body)
		}
	}
	if got := keys.lookups.Load(); got != 1 {
		t.Errorf("the same token was verified %d times, want once", got)
	}
	line := gw.logs.Wait(t, logWait, "path=/api/v1/users/me", "msg=request")
	if !strings.Contains(line, "user_id=user-42") {
		t.Errorf("access log line lacks user_id=user-42:\n%s", line)
	}

	// A token with the same claims from another key is refused every time.
	forged := authtest.NewSigner(t).Token("user-42", auth.RoleCustomer)
	before := keys.lookups.Load()
	for i := range 2 {
		resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, http.Header{"Authorization": {"Bearer " + forged}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged request %d: status %d, want 401 (body %s)", i, resp.StatusCode, body)
		}
	}
	if got := keys.lookups.Load() - before; got != 2 {
		t.Errorf("the forged token was verified %d times, want every time (2)", got)
	}
}

// TestAuthForgetsTokensAtExpiry checks that a remembered token stops
// getting through once it has expired (with kit/auth's leeway), as it
// would without the memory.
func TestAuthForgetsTokensAtExpiry(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	gw := newGateway(t, gateway.Config{}, userRoutes(t, svc, up)...)
	claims := gw.signer.Claims("user-42", auth.RoleCustomer)
	// Expired, but within the leeway for another one or two seconds ("exp"
	// has whole seconds).
	claims["exp"] = time.Now().Add(-auth.Leeway + 2*time.Second).Unix()
	token := gw.signer.Sign(claims)
	header := http.Header{"Authorization": {"Bearer " + token}}

	if resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, header); resp.StatusCode != http.StatusCreated {
		t.Fatalf("within the leeway: status %d, want the upstream's 201 (body %s)", resp.StatusCode, body)
	}
	time.Sleep(2500 * time.Millisecond)
	if resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, header); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after the leeway: status %d, want 401 (body %s)", resp.StatusCode, body)
	}
}
