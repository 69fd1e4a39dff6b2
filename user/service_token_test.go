package user_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/user"
	"github.com/kitshop/kitshop/user/userapi"
)

const (
	orderSecret = "0rder-S3cret:with%odd+chars"
	auditSecret = "audit-secret-0123456789"
)

// withAccounts configures the service accounts order and audit.
func withAccounts(t *testing.T) user.Option {
	t.Helper()
	accounts, err := user.ParseServiceAccounts("order:" + orderSecret + ",audit:" + auditSecret)
	if err != nil {
		t.Fatal(err)
	}
	return user.WithServiceAccounts(accounts)
}

// verifyServiceToken checks that token is a service token for name as
// kit/auth verifies it with v, and returns the identity.
func verifyServiceToken(t *testing.T, v *auth.Verifier, token, name string) auth.Identity {
	t.Helper()
	id, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, ok := id.Service(); !ok || got != name {
		t.Errorf("identity %+v: Service() = %q, %v; want %q", id, got, ok, name)
	}
	if id.UserID != "service:"+name || !slices.Equal(id.Roles, []string{auth.RoleService}) || id.TokenID == "" {
		t.Errorf("identity = %+v, want subject service:%s with roles [service] and a jti", id, name)
	}
	return id
}

func TestServiceToken(t *testing.T) {
	f := newFixture(t, withAccounts(t))
	ctx := context.Background()

	tok, err := f.svc.ServiceToken(ctx, user.ClientCredentials{ClientID: "order", ClientSecret: orderSecret, ClientIP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("ServiceToken: %v", err)
	}
	if tok.ExpiresIn != user.DefaultAccessTTL || tok.Subject != "service:order" {
		t.Errorf("token = %+v", tok)
	}
	id := verifyServiceToken(t, f.signer.Verifier(), tok.Token, "order")
	if want := f.clock.Now().Add(user.DefaultAccessTTL).Truncate(time.Second); !id.ExpiresAt.Equal(want) {
		t.Errorf("exp = %v, want %v (the users' lifetime)", id.ExpiresAt, want)
	}
	// The same issuer, audience and key as users' tokens.
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok.Token, claims)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != f.signer.KeyID() || claims["iss"] != userapi.Issuer || !slices.Equal(audience(claims), []string{userapi.Audience}) {
		t.Errorf("header %v, claims %v", parsed.Header, claims)
	}
	if _, err := f.svc.ServiceToken(ctx, user.ClientCredentials{ClientID: "audit", ClientSecret: auditSecret}); err != nil {
		t.Errorf("second account: %v", err)
	}

	tests := []struct {
		name       string
		creds      user.ClientCredentials
		wantKind   errs.Kind
		wantFields []string
	}{
		{"wrong secret", user.ClientCredentials{ClientID: "order", ClientSecret: auditSecret}, errs.Unauthenticated, nil},
		{"unknown client", user.ClientCredentials{ClientID: "billing", ClientSecret: orderSecret}, errs.Unauthenticated, nil},
		{"malformed client id", user.ClientCredentials{ClientID: "Order!", ClientSecret: orderSecret}, errs.Unauthenticated, nil},
		{"user's email as client id", user.ClientCredentials{ClientID: "ann@example.com", ClientSecret: orderSecret}, errs.Unauthenticated, nil},
		{"empty secret", user.ClientCredentials{ClientID: "order"}, errs.Invalid, []string{"client_secret"}},
		{"empty everything", user.ClientCredentials{}, errs.Invalid, []string{"client_id", "client_secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.ServiceToken(ctx, tt.creds)
			if errs.KindOf(err) != tt.wantKind || got.Token != "" {
				t.Fatalf("ServiceToken = %+v, %v; want a %v error", got, err, tt.wantKind)
			}
			if tt.wantKind == errs.Unauthenticated && errs.Message(err) != "invalid client credentials" {
				t.Errorf("message = %q, want the one for every bad credential", errs.Message(err))
			}
			if tt.wantFields != nil && !slices.Equal(fieldNames(err), tt.wantFields) {
				t.Errorf("fields = %v, want %v", fieldNames(err), tt.wantFields)
			}
		})
	}
}

func audience(claims jwt.MapClaims) []string {
	aud, _ := claims.GetAudience()
	return aud
}

func TestServiceTokenThrottle(t *testing.T) {
	// Two failures per client id, ten per address.
	f := newFixture(t, withAccounts(t), user.WithLoginThrottle(user.NewLoginThrottle(2, 10, time.Hour)))
	ctx := context.Background()
	try := func(id, secret, ip string) error {
		_, err := f.svc.ServiceToken(ctx, user.ClientCredentials{ClientID: id, ClientSecret: secret, ClientIP: ip})
		return err
	}

	// A user's login for the "email" service:order has a budget of its own.
	for range 3 {
		f.svc.Login(ctx, user.Credentials{Email: "service:order", Password: "guess", ClientIP: "198.51.100.1"})
	}
	for i, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		if err := try("order", "wrong-secret-guess", ip); !errs.Is(err, errs.Unauthenticated) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// The id's budget is spent: even the right secret waits, from anywhere.
	err := try("order", orderSecret, "192.0.2.3")
	if !errs.Is(err, errs.RateLimited) || errs.RetryAfterOf(err) < time.Second {
		t.Fatalf("right secret after the budget: %v, want rate_limited with a retry hint", err)
	}
	if err := try("audit", auditSecret, "192.0.2.1"); err != nil {
		t.Errorf("another account: %v", err)
	}
	// Ids that can name no account share one budget and spend no real one.
	for range 3 {
		try("Not-An-Id!", "x", "192.0.2.4")
	}
	if err := try("audit", auditSecret, "192.0.2.5"); err != nil {
		t.Errorf("after malformed ids: %v", err)
	}
	f.clock.Advance(time.Hour)
	if err := try("order", orderSecret, "192.0.2.3"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// tokenRequest is a request to the token endpoint: body in contentType, and
// an optional Basic Authorization header.
type tokenRequest struct {
	contentType string
	body        string
	basic       *[2]string // client id and secret, form-encoded into the header
	header      http.Header
	query       string
}

func (f *httpFixture) token(t *testing.T, req tokenRequest) httpResult {
	t.Helper()
	header := http.Header{}
	maps.Copy(header, req.header)
	if req.basic != nil {
		creds := url.QueryEscape(req.basic[0]) + ":" + url.QueryEscape(req.basic[1])
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	}
	path := user.TokenPath
	if req.query != "" {
		path += "?" + req.query
	}
	return f.do(t, http.MethodPost, path, req.contentType, req.body, header)
}

func jsonCreds(id, secret string) string {
	b, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
	return string(b)
}

func formCreds(id, secret string) string {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode()
}

const formType = "application/x-www-form-urlencoded"

// decodeServiceToken checks a successful token response and returns the
// access token.
func decodeServiceToken(t *testing.T, r httpResult) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(raw)), []string{"access_token", "expires_in", "token_type"}; !slices.Equal(got, want) {
		t.Errorf("fields = %v, want %v (no refresh token)", got, want)
	}
	if raw["token_type"] != "Bearer" || raw["expires_in"] != float64(user.DefaultAccessTTL/time.Second) {
		t.Errorf("token response %v", raw)
	}
	token, _ := raw["access_token"].(string)
	return token
}

func TestHTTPServiceToken(t *testing.T) {
	f := newHTTPFixture(t, nil, withAccounts(t))
	// Verified as other services do: with the keys from the JWKS endpoint.
	jwks := auth.NewJWKSCache(auth.HTTPJWKSFetcher(nil, func() []string { return []string{f.srv.URL + user.JWKSPath} }), log.NewNopLogger())
	v := auth.NewVerifier(jwks, userapi.Issuer, userapi.Audience)

	tests := []struct {
		name string
		req  tokenRequest
	}{
		{"JSON", tokenRequest{contentType: "application/json", body: jsonCreds("order", orderSecret)}},
		{"form", tokenRequest{contentType: formType, body: formCreds("order", orderSecret)}},
		{"form with charset and empty scope", tokenRequest{contentType: formType + "; charset=UTF-8", body: formCreds("order", orderSecret) + "&scope="}},
		{"Basic header and form", tokenRequest{contentType: formType, body: "grant_type=client_credentials", basic: &[2]string{"order", orderSecret}}},
		{"Basic header and JSON", tokenRequest{contentType: "application/json", body: `{"grant_type":"client_credentials"}`, basic: &[2]string{"order", orderSecret}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := decodeServiceToken(t, f.token(t, tt.req))
			verifyServiceToken(t, v, token, "order")
		})
	}

	// A service token is not a user's: it has no profile.
	token := decodeServiceToken(t, f.token(t, tokenRequest{contentType: formType, body: formCreds("audit", auditSecret)}))
	decodeProblem(t, f.do(t, http.MethodGet, user.MePath, "", "", withToken(token)), http.StatusForbidden)
	decodeProblem(t, f.do(t, http.MethodPatch, user.MePath, "application/json", `{"name":"x"}`, withToken(token)), http.StatusForbidden)

	t.Run("kit/auth client", func(t *testing.T) { testClientCredentials(t, f) })
}

// testClientCredentials uses kit/auth's client, as the order service does,
// against the real endpoint.
func testClientCredentials(t *testing.T, f *httpFixture) {
	urls := func() []string { return []string{f.srv.URL + userapi.TokenPath} }

	cc := auth.NewClientCredentials(urls, "order", orderSecret, nil)
	token, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	verifyServiceToken(t, f.signer.Verifier(), token, "order")
	if again, err := cc.Token(context.Background()); err != nil || again != token {
		t.Errorf("second Token = %.12s…, %v; want the cached token", again, err)
	}

	wrong := auth.NewClientCredentials(urls, "order", "not-the-secret-of-order", nil)
	if _, err := wrong.Token(context.Background()); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("Token with a wrong secret: %v, want unauthenticated", err)
	}
}

func TestHTTPServiceTokenErrors(t *testing.T) {
	f := newHTTPFixture(t, nil, withAccounts(t))
	t.Run("failures look alike", func(t *testing.T) { testServiceTokenFailuresLookAlike(t, f) })
	t.Run("bad requests", func(t *testing.T) { testServiceTokenBadRequests(t, f) })
}

// Wrong secret, unknown client, malformed id: one response, whatever the
// encoding.
func testServiceTokenFailuresLookAlike(t *testing.T, f *httpFixture) {
	tests := []struct {
		name string
		req  tokenRequest
	}{
		{"wrong secret", tokenRequest{contentType: "application/json", body: jsonCreds("order", auditSecret)}},
		{"unknown client", tokenRequest{contentType: "application/json", body: jsonCreds("billing", orderSecret)}},
		{"malformed client id", tokenRequest{contentType: formType, body: formCreds("Order Service", orderSecret)}},
		{"secret of another account", tokenRequest{contentType: formType, body: formCreds("audit", orderSecret)}},
		{"wrong secret in Basic header", tokenRequest{contentType: formType, body: "grant_type=client_credentials", basic: &[2]string{"order", "x"}}},
	}
	var first httpx.Problem
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.token(t, tt.req)
			p := decodeProblem(t, r, http.StatusUnauthorized)
			if p.Detail != "invalid client credentials" || p.Kind != "unauthenticated" {
				t.Errorf("problem %+v", p)
			}
			if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="kitshop"` {
				t.Errorf("WWW-Authenticate = %q, want the Basic challenge", got)
			}
			p.RequestID = ""
			if i == 0 {
				first = p
			} else if !equalProblems(p, first) {
				t.Errorf("problem %+v differs from %+v", p, first)
			}
		})
	}
}

func testServiceTokenBadRequests(t *testing.T, f *httpFixture) {
	order := &[2]string{"order", orderSecret}
	tests := []struct {
		name       string
		req        tokenRequest
		wantStatus int
		wantFields []string // checked when not nil
	}{
		{"unsupported grant type", tokenRequest{contentType: formType,
			body: url.Values{"grant_type": {"password"}, "client_id": {"order"}, "client_secret": {orderSecret}}.Encode()}, 400, []string{"grant_type"}},
		{"refresh grant in JSON", tokenRequest{contentType: "application/json",
			body: `{"grant_type":"refresh_token","client_id":"order","client_secret":"x"}`}, 400, []string{"grant_type"}},
		{"no grant type", tokenRequest{contentType: formType, body: "client_id=order&client_secret=x"}, 400, []string{"grant_type"}},
		{"no client id", tokenRequest{contentType: formType, body: "grant_type=client_credentials&client_secret=x"}, 400, []string{"client_id"}},
		{"no credentials", tokenRequest{contentType: "application/json", body: `{"grant_type":"client_credentials"}`}, 400, []string{"client_id", "client_secret"}},
		{"empty client id", tokenRequest{contentType: formType, body: formCreds("", orderSecret)}, 400, []string{"client_id"}},
		{"empty secret", tokenRequest{contentType: "application/json", body: jsonCreds("order", "")}, 400, []string{"client_secret"}},
		{"scope", tokenRequest{contentType: formType, body: formCreds("order", orderSecret) + "&scope=admin"}, 400, []string{"scope"}},
		{"unknown form parameter", tokenRequest{contentType: formType, body: formCreds("order", orderSecret) + "&role=admin"}, 400, []string{"role"}},
		{"form parameter twice", tokenRequest{contentType: formType, body: formCreds("order", orderSecret) + "&client_id=audit"}, 400, []string{"client_id"}},
		{"many unknown form parameters", tokenRequest{contentType: formType, body: "x" + strings.Repeat("y", 1000) + "=1&" + manyParams(500)}, 400, nil},
		{"form not UTF-8", tokenRequest{contentType: formType, body: "grant_type=client_credentials&client_id=order&client_secret=%ff%fe"}, 400, []string{"client_secret"}},
		{"form charset latin1", tokenRequest{contentType: formType + "; charset=iso-8859-1", body: formCreds("order", orderSecret)}, 400, nil},
		{"malformed form", tokenRequest{contentType: formType, body: "grant_type=%zz"}, 400, nil},
		{"empty form", tokenRequest{contentType: formType, body: ""}, 400, nil},
		{"form body over 1 MiB", tokenRequest{contentType: formType, body: formCreds("order", orderSecret) + "&scope=" + strings.Repeat("x", 1<<20)}, 413, nil},
		{"unknown JSON field", tokenRequest{contentType: "application/json", body: `{"grant_type":"client_credentials","client_id":"order","client_secret":"x","roles":["admin"]}`}, 400, []string{"roles"}},
		{"null JSON field", tokenRequest{contentType: "application/json", body: `{"grant_type":"client_credentials","client_id":null,"client_secret":"x"}`}, 400, []string{"client_id"}},
		{"malformed JSON", tokenRequest{contentType: "application/json", body: `{"grant_type":`}, 400, nil},
		{"plain text", tokenRequest{contentType: "text/plain", body: formCreds("order", orderSecret)}, 400, nil},
		{"no content type", tokenRequest{body: formCreds("order", orderSecret)}, 400, nil},
		{"credentials in the URL", tokenRequest{contentType: formType, body: "grant_type=client_credentials", query: "client_id=order&client_secret=x"}, 400, nil},
		{"Basic header and body credentials", tokenRequest{contentType: formType, body: formCreds("order", orderSecret), basic: order}, 400, nil},
		{"malformed Basic header", tokenRequest{contentType: formType, body: "grant_type=client_credentials",
			header: http.Header{"Authorization": {"Basic !!!"}}}, 400, nil},
		{"Basic header with bad escapes", tokenRequest{contentType: formType, body: "grant_type=client_credentials",
			header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("order:%zz"))}}}, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.token(t, tt.req)
			p := decodeProblem(t, r, tt.wantStatus)
			if tt.wantFields != nil && !slices.Equal(problemFields(p), tt.wantFields) {
				t.Errorf("fields = %v, want %v (problem %+v)", problemFields(p), tt.wantFields, p)
			}
			if strings.Contains(string(r.body), orderSecret) || len(r.body) > 4096 {
				t.Errorf("problem body echoes the input: %s", r.body)
			}
		})
	}

	for _, method := range []string{http.MethodGet, http.MethodPut} {
		decodeProblem(t, f.do(t, method, user.TokenPath, "", "", nil), http.StatusMethodNotAllowed)
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("p" + strconv.Itoa(i) + "=1&")
	}
	return b.String()
}

func TestHTTPServiceTokenRateLimit(t *testing.T) {
	f := newHTTPFixture(t, nil, withAccounts(t))
	for range user.DefaultAccountFailures {
		decodeProblem(t, f.token(t, tokenRequest{contentType: formType, body: formCreds("order", "guessing-the-secret")}), http.StatusUnauthorized)
	}
	r := f.token(t, tokenRequest{contentType: formType, body: formCreds("order", orderSecret)})
	if p := decodeProblem(t, r, http.StatusTooManyRequests); p.Kind != "rate_limited" {
		t.Errorf("kind = %q", p.Kind)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want whole seconds", r.header.Get("Retry-After"))
	}
	// The other account is not affected.
	decodeServiceToken(t, f.token(t, tokenRequest{contentType: formType, body: formCreds("audit", auditSecret)}))
}

// Neither secrets nor tokens appear in any log line, whatever happened.
func TestHTTPServiceTokenSecretsStaySecret(t *testing.T) {
	f := newHTTPFixture(t, nil, withAccounts(t))
	var bodies []string
	record := func(r httpResult) httpResult {
		bodies = append(bodies, string(r.body))
		return r
	}
	token := decodeServiceToken(t, record(f.token(t, tokenRequest{contentType: formType, body: formCreds("order", orderSecret)})))
	record(f.token(t, tokenRequest{contentType: "application/json", body: jsonCreds("order", orderSecret+"-wrong")}))
	record(f.token(t, tokenRequest{contentType: "application/json", body: jsonCreds(orderSecret, orderSecret)})) // secret pasted as id
	record(f.token(t, tokenRequest{contentType: formType, body: formCreds("order", orderSecret) + "&scope=x"}))
	record(f.token(t, tokenRequest{contentType: formType, body: "grant_type=client_credentials", basic: &[2]string{"audit", auditSecret}}))
	record(f.token(t, tokenRequest{contentType: formType, body: formCreds("order", auditSecret), basic: &[2]string{"audit", auditSecret}}))
	record(f.token(t, tokenRequest{contentType: "application/json", body: `{"grant_type":"client_credentials","client_id":"order","client_secret":"` + orderSecret + `","x":1}`}))

	logs := f.logs.String()
	if !strings.Contains(logs, "op=service_token") || !strings.Contains(logs, "subject=service:order") || !strings.Contains(logs, "method=ServiceToken") {
		t.Fatalf("logs lack the expected events:\n%s", logs)
	}
	escaped := url.QueryEscape(orderSecret)
	for name, secret := range map[string]string{"order secret": orderSecret, "escaped order secret": escaped,
		"audit secret": auditSecret, "token": token, "token signature": token[strings.LastIndexByte(token, '.')+1:]} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s:\n%s", name, logs)
		}
		if strings.HasPrefix(name, "token") {
			continue // the first response carries it by design
		}
		for _, body := range bodies {
			if strings.Contains(body, secret) {
				t.Errorf("a response contains the %s: %s", name, body)
			}
		}
	}
}
