package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
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

	line := gw.logs.Wait(t, logWait, "path=/api/v1/users/me", "msg=request")
	if !strings.Contains(line, "user_id=user-42") {
		t.Errorf("access log line lacks user_id=user-42:\n%s", line)
	}
	// The public request was not authenticated, so it names no user.
	line = gw.logs.Wait(t, logWait, "path=/api/v1/auth/logout", "msg=request")
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
