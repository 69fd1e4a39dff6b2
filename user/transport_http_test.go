package user_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/user"
)

// httpFixture serves the real service on a fresh database, wired as in
// cmd/user (service logging, endpoint logging, request ids), with every log
// line collected.
type httpFixture struct {
	*fixture
	srv  *httptest.Server
	logs *testlog.Buffer
}

func newHTTPFixture(t *testing.T, httpOpts []user.HTTPOption, opts ...user.Option) *httpFixture {
	t.Helper()
	f := newFixture(t, opts...)
	logs := &testlog.Buffer{}
	logger := log.NewLogfmtLogger(logs)
	svc := user.LoggingMiddleware(logger)(f.svc)
	eps := user.NewEndpoints(svc, f.signer.Verifier()).Wrap(func(method string) endpoint.Middleware {
		return logging.EndpointMiddleware(logger, method)
	})
	srv := httptest.NewServer(requestid.HTTPMiddleware(user.NewHTTPHandler(eps, logger, httpOpts...)))
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, srv: srv, logs: logs}
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; header may be nil.
func (f *httpFixture) do(t *testing.T, method, path, contentType, body string, header http.Header) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *httpFixture) postJSON(t *testing.T, path, body string) httpResult {
	t.Helper()
	return f.do(t, http.MethodPost, path, "application/json", body, nil)
}

// withToken returns an Authorization header for token.
func withToken(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// tokens is the JSON of a token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func decodeTokens(t *testing.T, r httpResult) tokens {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control = %q, want no-store", cc)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(raw)), []string{"access_token", "expires_in", "refresh_token", "token_type"}; !slices.Equal(got, want) {
		t.Errorf("token response fields = %v, want %v", got, want)
	}
	var tok tokens
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn != int64(user.DefaultAccessTTL.Seconds()) {
		t.Errorf("tokens = %+v", tok)
	}
	return tok
}

func decodeUser(t *testing.T, r httpResult, wantStatus int) user.User {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(raw)), []string{"created_at", "email", "id", "name", "roles"}; !slices.Equal(got, want) {
		t.Errorf("user fields = %v, want %v", got, want)
	}
	var u user.User
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// decodeProblem checks that r is a problem document for status and returns it.
func decodeProblem(t *testing.T, r httpResult, wantStatus int) httpx.Problem {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, httpx.ProblemContentType)
	}
	var p httpx.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != wantStatus || p.Kind == "" || p.Type != "urn:kitshop:problem:"+p.Kind || p.Title == "" || p.Detail == "" {
		t.Errorf("malformed problem %+v", p)
	}
	if p.RequestID == "" || p.RequestID != r.header.Get(requestid.Header) {
		t.Errorf("problem request_id %q, response header %q", p.RequestID, r.header.Get(requestid.Header))
	}
	return p
}

func problemFields(p httpx.Problem) []string {
	var names []string
	for _, f := range p.Errors {
		names = append(names, f.Field)
	}
	return names
}

const signUpBody = `{"email":" Ann@Example.com ","password":"correct horse","name":"Ann"}`

func TestHTTPAccountLifecycle(t *testing.T) {
	f := newHTTPFixture(t, nil)

	// Sign up, and again with the email in other letters and another
	// password: the same answer, and no second account.
	first := decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))
	again := decodeSignUp(t, f.postJSON(t, user.UsersPath,
		`{"email":"ANN@example.COM","password":"other password","name":"Mallory"}`))
	if !bytes.Equal(first, again) {
		t.Errorf("sign-up of a new email answered %s, of a taken one %s; want the same", first, again)
	}

	// Log in right away and look at oneself.
	login := decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`))
	created := decodeUser(t, f.do(t, http.MethodGet, user.MePath, "", "", withToken(login.AccessToken)), http.StatusOK)
	if created.Email != "ann@example.com" || created.Name != "Ann" || !slices.Equal(created.Roles, []string{"customer"}) {
		t.Errorf("signed up %+v", created)
	}
	if _, err := uuid.Parse(created.ID); err != nil {
		t.Errorf("id %q: %v", created.ID, err)
	}
	decodeProblem(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"other password"}`), http.StatusUnauthorized)

	// Change the name, then the password.
	renamed := decodeUser(t, f.do(t, http.MethodPatch, user.MePath, "application/json", `{"name":"Ann Smith"}`, withToken(login.AccessToken)), http.StatusOK)
	if renamed.Name != "Ann Smith" {
		t.Errorf("PATCH name: %+v", renamed)
	}
	r := f.do(t, http.MethodPatch, user.MePath, "application/json", `{"password":"new password","current_password":"wrong password"}`, withToken(login.AccessToken))
	if p := decodeProblem(t, r, http.StatusBadRequest); !slices.Equal(problemFields(p), []string{"current_password"}) {
		t.Errorf("PATCH with a wrong current password: %+v", p)
	}

	// Refresh, and refresh again with the used token: the family is gone.
	refreshed := decodeTokens(t, f.postJSON(t, user.RefreshPath, `{"refresh_token":"`+login.RefreshToken+`"}`))
	if refreshed.RefreshToken == login.RefreshToken {
		t.Error("refresh returned the same refresh token")
	}
	decodeProblem(t, f.postJSON(t, user.RefreshPath, `{"refresh_token":"`+login.RefreshToken+`"}`), http.StatusUnauthorized)
	decodeProblem(t, f.postJSON(t, user.RefreshPath, `{"refresh_token":"`+refreshed.RefreshToken+`"}`), http.StatusUnauthorized)

	// A new session, changed password, logout.
	second := decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`))
	decodeUser(t, f.do(t, http.MethodPatch, user.MePath, "application/json",
		`{"password":"new password","current_password":"correct horse"}`, withToken(second.AccessToken)), http.StatusOK)
	p := decodeProblem(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`), http.StatusUnauthorized)
	if p.Detail != "invalid email or password" {
		t.Errorf("login with the old password: %+v", p)
	}
	third := decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"new password"}`))
	for range 2 { // idempotent
		r = f.postJSON(t, user.LogoutPath, `{"refresh_token":"`+third.RefreshToken+`"}`)
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Errorf("logout = %d %q, want 204 and no body", r.status, r.body)
		}
	}
	decodeProblem(t, f.postJSON(t, user.RefreshPath, `{"refresh_token":"`+third.RefreshToken+`"}`), http.StatusUnauthorized)
	r = f.postJSON(t, user.LogoutPath, `{"refresh_token":"unknown"}`)
	if r.status != http.StatusNoContent {
		t.Errorf("logout of an unknown token = %d, want 204", r.status)
	}
}

// Unknown email and wrong password are the same response.
func TestHTTPLoginFailuresLookAlike(t *testing.T) {
	f := newHTTPFixture(t, nil)
	decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))
	wrong := decodeProblem(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"wrong password"}`), http.StatusUnauthorized)
	unknown := decodeProblem(t, f.postJSON(t, user.LoginPath, `{"email":"bob@example.com","password":"wrong password"}`), http.StatusUnauthorized)
	wrong.RequestID, unknown.RequestID = "", ""
	if !equalProblems(wrong, unknown) {
		t.Errorf("wrong password %+v, unknown email %+v; want the same", wrong, unknown)
	}
	if wrong.Detail != "invalid email or password" || wrong.Kind != "unauthenticated" {
		t.Errorf("problem %+v", wrong)
	}
}

func equalProblems(a, b httpx.Problem) bool {
	return a.Type == b.Type && a.Title == b.Title && a.Status == b.Status && a.Detail == b.Detail &&
		a.Kind == b.Kind && slices.Equal(a.Errors, b.Errors)
}

func TestHTTPMeAuthentication(t *testing.T) {
	f := newHTTPFixture(t, nil)
	decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))
	valid := decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`)).AccessToken
	u := decodeUser(t, f.do(t, http.MethodGet, user.MePath, "", "", withToken(valid)), http.StatusOK)

	forger := authtest.NewSigner(t) // a key the service does not know
	ourKid := authtest.NewSigner(t)
	ourKid.Kid = f.signer.KeyID()
	expired := forger.Claims(u.ID, auth.RoleAdmin)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	unknownUser, err := f.signer.Sign(time.Now(), uuid.NewString(), []string{auth.RoleCustomer})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
	}{
		{"valid token", withToken(valid), http.StatusOK},
		{"lower-case scheme", http.Header{"Authorization": {"bearer " + valid}}, http.StatusOK},
		{"no token", nil, http.StatusUnauthorized},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, http.StatusUnauthorized},
		{"basic auth", http.Header{"Authorization": {"Basic YW5uOmNvcnJlY3QgaG9yc2U="}}, http.StatusUnauthorized},
		{"two tokens", http.Header{"Authorization": {"Bearer " + valid, "Bearer " + valid}}, http.StatusUnauthorized},
		{"garbage", withToken("not.a.jwt"), http.StatusUnauthorized},
		{"foreign key", withToken(forger.Token(u.ID, auth.RoleCustomer)), http.StatusUnauthorized},
		{"foreign key with our kid", withToken(ourKid.Token(u.ID, auth.RoleAdmin)), http.StatusUnauthorized},
		{"alg none", withToken(authtest.Unsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": f.signer.KeyID()}, forger.Claims(u.ID))), http.StatusUnauthorized},
		{"HS256 header", withToken(ourKid.SignWithHeader(map[string]any{"alg": "HS256", "kid": f.signer.KeyID()}, forger.Claims(u.ID))), http.StatusUnauthorized},
		{"expired", withToken(ourKid.Sign(expired)), http.StatusUnauthorized},
		{"tampered", withToken(tamper(t, valid)), http.StatusUnauthorized},
		{"refresh token as access token", withToken("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), http.StatusUnauthorized},
		{"valid token of a deleted user", withToken(unknownUser), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPatch} {
				r := f.do(t, method, user.MePath, "application/json", `{"name":"Mallory"}`, tt.header)
				if tt.wantStatus == http.StatusOK {
					if got := decodeUser(t, r, http.StatusOK); got.ID != u.ID {
						t.Errorf("%s /me = %+v", method, got)
					}
					continue
				}
				p := decodeProblem(t, r, tt.wantStatus)
				if tt.wantStatus == http.StatusUnauthorized && p.Kind != "unauthenticated" {
					t.Errorf("%s kind = %q", method, p.Kind)
				}
			}
		})
	}
}

func TestHTTPJWKS(t *testing.T) {
	f := newHTTPFixture(t, nil)
	for _, path := range []string{user.JWKSPath, user.AuthJWKSPath} {
		t.Run(path, func(t *testing.T) {
			r := f.do(t, http.MethodGet, path, "", "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
				t.Errorf("Cache-Control = %q", cc)
			}
			var doc struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Keys) != 1 {
				t.Fatalf("keys = %v, want one", doc.Keys)
			}
			want := map[string]string{
				"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": f.signer.KeyID(),
				"x": auth.PublicJWK(f.signer.KeyID(), f.signer.PublicKey()).X,
			}
			if !maps.Equal(doc.Keys[0], want) {
				t.Errorf("key = %v, want %v", doc.Keys[0], want)
			}
		})
	}
}
