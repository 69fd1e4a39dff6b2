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

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/user/userapi"
)

// userPublic is what the user service declares public, as in its Consul
// registration.
const userPublic = "POST =/api/v1/users,POST =/api/v1/auth/login,POST =/api/v1/auth/refresh,POST =/api/v1/auth/logout,GET =/api/v1/auth/jwks.json"

// userRoutes routes the user service's two prefixes to up, with its public
// routes.
func userRoutes(t *testing.T, svc string, up *upstream) []gateway.Route {
	t.Helper()
	public := mustPublic(t, userPublic)
	instances := []consul.Instance{up.instance(svc)}
	return []gateway.Route{
		{Prefix: "/api/v1/users", Service: svc, Instances: instances, Public: public},
		{Prefix: "/api/v1/auth", Service: svc, Instances: instances, Public: public},
	}
}

// TestAuthPublicAndProtected: public routes pass without a token, the rest
// of the service's paths need one, and a refused request never reaches the
// service.
func TestAuthPublicAndProtected(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{}, userRoutes(t, svc, up)...)
	token := gw.signer.Token("alice", auth.RoleCustomer)

	tests := []struct {
		method, path string
		header       http.Header
		wantStatus   int
	}{
		{http.MethodPost, "/api/v1/users", nil, http.StatusOK},
		{http.MethodPost, "/api/v1/auth/login", nil, http.StatusOK},
		{http.MethodPost, "/api/v1/auth/refresh", nil, http.StatusOK},
		{http.MethodGet, "/api/v1/auth/jwks.json", nil, http.StatusOK},
		{http.MethodHead, "/api/v1/auth/jwks.json", nil, http.StatusOK},
		{http.MethodGet, "/api/v1/users/me", nil, http.StatusUnauthorized},
		{http.MethodPatch, "/api/v1/users/me", nil, http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/users", nil, http.StatusUnauthorized},     // only POST is public
		{http.MethodPost, "/api/v1/users/me", nil, http.StatusUnauthorized}, // exact: nothing below the sign-up
		{http.MethodPost, "/api/v1/users/42/roles", nil, http.StatusUnauthorized},
		{http.MethodPost, "/api/v1/auth/login/x", nil, http.StatusUnauthorized},
		{http.MethodPost, "/api/v1/auth/loginx", nil, http.StatusUnauthorized},  // not a segment boundary
		{http.MethodGet, "/api/v1/auth/login", nil, http.StatusUnauthorized},    // only POST is public
		{http.MethodGet, "/api/v1/users/me", bearer(token), http.StatusOK},      // protected, with a token
		{http.MethodPatch, "/api/v1/users/me", bearer(token), http.StatusOK},    // protected, with a token
		{http.MethodPost, "/api/v1/auth/login", bearer(token), http.StatusOK},   // public, token or not
		{http.MethodGet, "/api/v1/nothing", bearer(token), http.StatusNotFound}, // no route at all
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			before := up.hits.Load()
			resp, body := gw.do(t, tt.method, tt.path, nil, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			forwarded := up.hits.Load() - before
			if want := tt.wantStatus == http.StatusOK; (forwarded == 1) != want {
				t.Errorf("upstream got %d requests, want forwarded = %v", forwarded, want)
			}
			if tt.wantStatus == http.StatusUnauthorized {
				p := wantProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
				if p.Detail != "authentication required" {
					t.Errorf("detail = %q, want %q", p.Detail, "authentication required")
				}
				if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="kitshop"`; got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
		})
	}
}

// TestAuthRejectsBadTokens: every kind of bad credential on a protected
// route is a 401 with a challenge, and the service never sees the request.
func TestAuthRejectsBadTokens(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{}, userRoutes(t, svc, up)...)
	s := gw.signer
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := s.Claims("alice", auth.RoleCustomer)
		change(c)
		return c
	}
	// An attacker's key, published under the gateway's kid nowhere.
	forger := authtest.NewSigner(t)
	forger.Kid = s.Kid
	hs256 := jwt.NewWithClaims(jwt.SigningMethodHS256, s.Claims("alice"))
	hs256.Header["kid"] = s.Kid
	// The classic algorithm confusion: the public key used as HMAC secret.
	hs256Token, err := hs256.SignedString([]byte(s.Public))
	if err != nil {
		t.Fatal(err)
	}

	const (
		challenge        = `Bearer realm="kitshop"`
		invalidChallenge = `Bearer realm="kitshop", error="invalid_token"`
	)
	tests := []struct {
		name          string
		authorization []string
		wantDetail    string
		wantChallenge string
	}{
		{"no header", nil, "authentication required", challenge},
		{"empty header", []string{""}, "authentication required", challenge},
		{"basic scheme", []string{"Basic YWxpY2U6c2VjcmV0"}, "authorization must be a single Bearer token", challenge},
		{"bearer without token", []string{"Bearer "}, "authorization must be a single Bearer token", invalidChallenge},
		{"two headers", []string{"Bearer " + s.Token("alice"), "Bearer " + s.Token("bob")}, "authorization must be a single Bearer token", invalidChallenge},
		{"garbage", []string{"Bearer not.a.jwt"}, "invalid or expired token", invalidChallenge},
		{"expired", []string{"Bearer " + s.Sign(claims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		}))}, "invalid or expired token", invalidChallenge},
		{"not yet valid", []string{"Bearer " + s.Sign(claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }))}, "invalid or expired token", invalidChallenge},
		{"no expiry", []string{"Bearer " + s.Sign(claims(func(c jwt.MapClaims) { delete(c, "exp") }))}, "invalid or expired token", invalidChallenge},
		{"no subject", []string{"Bearer " + s.Sign(claims(func(c jwt.MapClaims) { delete(c, "sub") }))}, "invalid or expired token", invalidChallenge},
		{"wrong audience", []string{"Bearer " + s.Sign(claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }))}, "invalid or expired token", invalidChallenge},
		{"wrong issuer", []string{"Bearer " + s.Sign(claims(func(c jwt.MapClaims) { c["iss"] = "evil" }))}, "invalid or expired token", invalidChallenge},
		{"forged signature", []string{"Bearer " + forger.Token("alice", auth.RoleAdmin)}, "invalid or expired token", invalidChallenge},
		{"unknown kid", []string{"Bearer " + authtest.NewSigner(t).Token("alice")}, "invalid or expired token", invalidChallenge},
		{"alg none", []string{"Bearer " + authtest.Unsigned(t, map[string]any{"alg": "none", "kid": s.Kid, "typ": "JWT"}, s.Claims("alice", auth.RoleAdmin))}, "invalid or expired token", invalidChallenge},
		{"alg none header, real signature", []string{"Bearer " + s.SignWithHeader(map[string]any{"alg": "none", "kid": s.Kid}, s.Claims("alice"))}, "invalid or expired token", invalidChallenge},
		{"HS256 with the public key", []string{"Bearer " + hs256Token}, "invalid or expired token", invalidChallenge},
		{"tampered claims", []string{"Bearer " + tamper(t, s.Token("alice", auth.RoleCustomer))}, "invalid or expired token", invalidChallenge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			for _, v := range tt.authorization {
				header.Add("Authorization", v)
			}
			resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, header)
			p := wantProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
			if p.Detail != tt.wantDetail {
				t.Errorf("detail = %q, want %q", p.Detail, tt.wantDetail)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
		})
	}
	if got := up.hits.Load(); got != 0 {
		t.Errorf("upstream got %d requests with bad credentials, want 0", got)
	}
	if strings.Contains(gw.logs.String(), hs256Token) {
		t.Error("a token appears in the logs")
	}
}

// tamper swaps the claims of token for ones that say admin, keeping the
// signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	forged := authtest.Unsigned(t, map[string]any{}, jwt.MapClaims{"sub": "alice", "roles": []string{auth.RoleAdmin}})
	return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
}

// TestAuthForwardsValidToken: a request with a valid token reaches the
// service with its Authorization header unchanged and with no identity
// header the client made up; the access log names the user, never the
// token.
func TestAuthForwardsValidToken(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	gw := newGateway(t, gateway.Config{}, userRoutes(t, svc, up)...)
	token := gw.signer.Token("user-42", auth.RoleCustomer)

	spoofed := http.Header{
		"Authorization":      {"Bearer " + token},
		"X-User-Id":          {"admin-1"},
		"X-User-Roles":       {"admin"},
		"X-User-Email":       {"root@example.com"},
		"X-Auth-User":        {"admin-1"},
		"X-Forwarded-User":   {"admin-1"},
		"X-Remote-User":      {"admin-1"},
		"X-Kitshop-User":     {"admin-1"},
		"X-Kitshop-Trusted":  {"yes"},
		"x-user-id":          {"lower-case"}, // sent as written; the server canonicalises it
		"X_User_Id":          {"underscored"},
		"X-User-Agent-Hint":  {"kept"},
		"X-Userid-Lookalike": {"kept"},
		"X-Request-Id":       {"auth-fwd-1"},
	}
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/users/me"},     // protected
		{http.MethodPost, "/api/v1/auth/logout"}, // public: stripped all the same
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := gw.do(t, tt.method, tt.path, nil, spoofed)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status = %d, want the upstream's 201 (body %s)", resp.StatusCode, body)
			}
			var got seen
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if a := got.Header.Values("Authorization"); len(a) != 1 || a[0] != "Bearer "+token {
				t.Errorf("upstream Authorization = %q, want the client's, unchanged", a)
			}
			identity := map[string]bool{"x-user-id": true, "x-user-roles": true, "x-user-email": true, "x-auth-user": true,
				"x-forwarded-user": true, "x-remote-user": true}
			for name := range got.Header {
				n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if identity[n] || strings.HasPrefix(n, "x-kitshop-") {
					t.Errorf("upstream got identity header %s: %q", name, got.Header[name])
				}
			}
			for _, kept := range []string{"X-User-Agent-Hint", "X-Userid-Lookalike"} {
				if got.Header.Get(kept) != "kept" {
					t.Errorf("upstream lacks the unrelated header %s", kept)
				}
			}
		})
	}

	line := waitLog(t, gw.logs, "path=/api/v1/users/me", "msg=request")
	if !strings.Contains(line, "user_id=user-42") {
		t.Errorf("access log line lacks user_id=user-42:\n%s", line)
	}
	// The public request was not authenticated, so it names no user.
	line = waitLog(t, gw.logs, "path=/api/v1/auth/logout", "msg=request")
	if !strings.Contains(line, "user_id= ") {
		t.Errorf("access log line of a public route names a user:\n%s", line)
	}
	if strings.Contains(gw.logs.String(), token) {
		t.Errorf("the token appears in the logs:\n%s", gw.logs)
	}
}

// TestAuthPublicRouteForwardsBadToken: on a public route the gateway does
// not judge a token; the service does (login must work for a client whose
// old token has expired).
func TestAuthPublicRouteForwardsBadToken(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	gw := newGateway(t, gateway.Config{}, userRoutes(t, svc, up)...)
	expired := gw.signer.Sign(jwt.MapClaims{"iss": userapi.Issuer, "aud": userapi.Audience, "sub": "alice",
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})

	for _, token := range []string{expired, "garbage"} {
		resp, body := gw.do(t, http.MethodPost, "/api/v1/auth/refresh", nil, bearer(token))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status = %d, want the upstream's 201 (body %s)", resp.StatusCode, body)
		}
		var got seen
		json.Unmarshal([]byte(body), &got)
		if a := got.Header.Get("Authorization"); a != "Bearer "+token {
			t.Errorf("upstream Authorization = %q, want it forwarded unchanged", a)
		}
	}
}

// TestAuthBeforeAvailability: a protected route of a service that is down
// still answers an anonymous client 401, not 503.
func TestAuthBeforeAvailability(t *testing.T) {
	svc := serviceName(t)
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/orders", Service: svc})
	resp, body := gw.get(t, "/api/v1/orders/1")
	wantProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = gw.do(t, http.MethodGet, "/api/v1/orders/1", nil, bearer(gw.signer.Token("alice")))
	wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
}

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
				waitLog(t, gw.logs, "status=429", "user_id=alice")
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
		line := waitLog(t, gw.logs, "path="+path+" ", "msg=request")
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
	line := waitLog(t, gw.logs, "path=/api/v1/users/me", "msg=request")
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
