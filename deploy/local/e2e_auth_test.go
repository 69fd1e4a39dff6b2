package local_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/auth"
)

// secrets collects every password and token the test handles, to look for
// them in the logs at the end.
type secrets struct {
	values []string
}

func (s *secrets) add(vs ...string) {
	for _, v := range vs {
		if v != "" {
			s.values = append(s.values, v)
		}
	}
}

// bearer returns the headers that present token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// account is a user as the API shows it.
type account struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

// signUpAnswer is the answer to every sign-up, whether or not the email had
// an account: it tells nobody which emails are registered.
type signUpAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// tokens is the answer of a login or a refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// signUp creates a customer account with a fresh email and password
// through the gateway and returns them.
func signUp(t *testing.T, c *client, sec *secrets) (email, password string) {
	t.Helper()
	email = "e2e-" + strings.ToLower(randomHex(t, 6)) + "@example.com"
	password = "pw-" + randomHex(t, 10)
	sec.add(password)
	r := c.do(t, http.MethodPost, "/api/v1/users", nil,
		mustJSON(t, map[string]string{"email": email, "password": password, "name": "End-to-end customer"}))
	var accepted signUpAnswer
	decodeJSON(t, "sign up", r, http.StatusAccepted, &accepted)
	return email, password
}

// login logs in through the gateway; a failure ends the test.
func login(t *testing.T, c *client, sec *secrets, email, password string) tokens {
	t.Helper()
	r := c.do(t, http.MethodPost, "/api/v1/auth/login", nil, mustJSON(t, map[string]string{"email": email, "password": password}))
	var tok tokens
	decodeJSON(t, "login as "+email, r, http.StatusOK, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("login as %s: tokens %+v, want both tokens, type Bearer and a lifetime", email, tok)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("login: Cache-Control %q, want no-store: no cache may keep tokens", cc)
	}
	sec.add(tok.AccessToken, tok.RefreshToken)
	return tok
}

// refresh exchanges a refresh token through the gateway.
func refresh(t *testing.T, c *client, refreshToken string) response {
	t.Helper()
	return c.do(t, http.MethodPost, "/api/v1/auth/refresh", nil, mustJSON(t, map[string]string{"refresh_token": refreshToken}))
}

// me returns the account of the caller of token, via GET /api/v1/users/me.
func me(t *testing.T, c *client, what, token string) account {
	t.Helper()
	var u account
	decodeJSON(t, what, c.do(t, http.MethodGet, "/api/v1/users/me", bearer(token), nil), http.StatusOK, &u)
	return u
}

// testAccounts goes through an account's life through the gateway: sign up,
// log in, who am I, refresh with rotation (and what reusing a rotated
// token does), log out.
func testAccounts(t *testing.T, c *client, sec *secrets) {
	email := "E2E-" + randomHex(t, 6) + "@Example.com"
	password := "pw-" + randomHex(t, 10)
	sec.add(password)
	body := mustJSON(t, map[string]string{"email": email, "password": password, "name": "Ada Lovelace"})
	r := c.do(t, http.MethodPost, "/api/v1/users", nil, body)
	var accepted signUpAnswer
	decodeJSON(t, "sign up", r, http.StatusAccepted, &accepted)
	if bytes.Contains(r.Body, []byte(password)) || bytes.Contains(r.Body, []byte("password")) {
		t.Errorf("sign-up answer mentions the password: %s", truncate(r.Body))
	}
	// Signing up again with a taken email gets the very same answer.
	again := c.do(t, http.MethodPost, "/api/v1/users", nil,
		mustJSON(t, map[string]string{"email": strings.ToLower(email), "password": password + "-other", "name": "Mallory"}))
	if again.Status != http.StatusAccepted || !bytes.Equal(again.Body, r.Body) {
		t.Errorf("sign up with a taken email: %d %s, want the answer of a new one: %s", again.Status, truncate(again.Body), truncate(r.Body))
	}

	wrong := mustJSON(t, map[string]string{"email": email, "password": password + "-wrong"})
	checkProblem(t, "wrong password", c.do(t, http.MethodPost, "/api/v1/auth/login", nil, wrong), http.StatusUnauthorized, "unauthenticated", "")

	first := login(t, c, sec, strings.ToLower(email), password)
	created := me(t, c, "me", first.AccessToken)
	if created.Email != strings.ToLower(email) || created.Name != "Ada Lovelace" || !slices.Equal(created.Roles, []string{auth.RoleCustomer}) || created.ID == "" {
		t.Errorf("signed up %+v, want the lower-cased email, the name and role customer only", created)
	}
	checkProblem(t, "me without a token", c.do(t, http.MethodGet, "/api/v1/users/me", nil, nil), http.StatusUnauthorized, "unauthenticated", "")

	// Rotation: a new pair, and the old refresh token is used up.
	r = refresh(t, c, first.RefreshToken)
	var second tokens
	decodeJSON(t, "refresh", r, http.StatusOK, &second)
	sec.add(second.AccessToken, second.RefreshToken)
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatalf("refresh gave %+v, want a new pair", second)
	}
	if got := me(t, c, "me with the refreshed token", second.AccessToken); got.ID != created.ID {
		t.Errorf("me with the refreshed token = %+v, want %s", got, created.ID)
	}
	// Reusing the rotated token looks like theft: refused, and the whole
	// session ends, so the newer token is refused too.
	checkProblem(t, "reuse of a rotated refresh token", refresh(t, c, first.RefreshToken), http.StatusUnauthorized, "unauthenticated", "")
	checkProblem(t, "refresh after reuse was detected", refresh(t, c, second.RefreshToken), http.StatusUnauthorized, "unauthenticated", "")

	// Log out ends a session; logging out again is harmless.
	third := login(t, c, sec, email, password)
	logout := mustJSON(t, map[string]string{"refresh_token": third.RefreshToken})
	for i := range 2 {
		r := c.do(t, http.MethodPost, "/api/v1/auth/logout", nil, logout)
		if r.Status != http.StatusNoContent {
			t.Errorf("logout #%d: status %d, want 204; body %s", i+1, r.Status, truncate(r.Body))
		}
	}
	checkProblem(t, "refresh after logout", refresh(t, c, third.RefreshToken), http.StatusUnauthorized, "unauthenticated", "")
	checkProblem(t, "refresh with garbage", refresh(t, c, "not-a-refresh-token"), http.StatusUnauthorized, "unauthenticated", "")
}

// testAdmin checks the bootstrapped admin account, and that its password
// reached the user service through the environment, not a command line.
func testAdmin(t *testing.T, c *client, stack *local.Stack, email, password, token string) {
	u := me(t, c, "me as admin", token)
	if u.Email != email || !slices.Contains(u.Roles, auth.RoleAdmin) {
		t.Errorf("admin account %+v, want %s with role admin", u, email)
	}
	for _, p := range stack.Processes() {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/cmdline")
		if err != nil {
			t.Errorf("command line of %s: %v", p.Name(), err)
			continue
		}
		if bytes.Contains(cmdline, []byte(password)) {
			t.Errorf("the admin password is on the command line of %s, visible to every user of the machine", p.Name())
		}
	}
	users := stack.Instances("user")
	if len(users) == 0 {
		t.Fatal("no user instance")
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(users[0].Process.Pid()) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(environ), "\x00"), "USER_ADMIN_PASSWORD="+password) {
		t.Error("USER_ADMIN_PASSWORD is not in the user service's environment")
	}
}

// testCatalogRules checks who may change the catalog, through the gateway
// and straight at each product instance, where the gateway cannot help:
// everyone reads, only the admin writes, and identity never comes from a
// plain header.
func testCatalogRules(t *testing.T, c *client, stack *local.Stack, admin, customer string) {
	sku := "E2E-RULES-" + randomHex(t, 3)
	var p product
	decodeJSON(t, "create as admin", c.do(t, http.MethodPost, "/api/v1/products", bearer(admin),
		mustJSON(t, map[string]any{"sku": sku, "name": "Rules mug", "price_minor": 900, "currency": "EUR", "stock": 4})), http.StatusCreated, &p)
	item := "/api/v1/products/" + p.ID
	newBody := mustJSON(t, map[string]any{"sku": sku + "-2", "name": "Not allowed", "price_minor": 1, "currency": "EUR"})

	clients := []struct {
		name string
		c    *client
	}{{"gateway", c}}
	for _, inst := range stack.Instances("product") {
		clients = append(clients, struct {
			name string
			c    *client
		}{inst.ID + " directly", newClient("http://" + inst.HTTPAddr)})
	}
	callers := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantKind   string
	}{
		{"anonymous", nil, http.StatusUnauthorized, "unauthenticated"},
		{"identity in plain headers", http.Header{"X-User-Id": {"admin"}, "X-Roles": {auth.RoleAdmin}, "X-Forwarded-User": {"admin"}}, http.StatusUnauthorized, "unauthenticated"},
		{"customer", bearer(customer), http.StatusForbidden, "forbidden"},
	}
	for _, cl := range clients {
		for _, who := range callers {
			for _, w := range []struct {
				method, path string
				body         []byte
			}{
				{http.MethodPost, "/api/v1/products", newBody},
				{http.MethodPatch, item, []byte(`{"stock":0}`)},
				{http.MethodDelete, item, nil},
			} {
				what := fmt.Sprintf("%s: %s %s as %s", cl.name, w.method, w.path, who.name)
				r := cl.c.do(t, w.method, w.path, who.header, w.body)
				checkProblem(t, what, r, who.wantStatus, who.wantKind, "")
				if who.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", what, r.Header.Get("WWW-Authenticate"))
				}
			}
			var got product
			decodeJSON(t, cl.name+": get as "+who.name, cl.c.do(t, http.MethodGet, item, who.header, nil), http.StatusOK, &got)
			if got.Stock != 4 || got.SKU != sku {
				t.Errorf("%s: product after refused writes %+v, want it unchanged", cl.name, got)
			}
		}
		cl.c.http.CloseIdleConnections()
	}
	if r := c.do(t, http.MethodDelete, item, bearer(admin), nil); r.Status != http.StatusNoContent {
		t.Errorf("delete as admin: status %d, want 204; body %s", r.Status, truncate(r.Body))
	}
}
