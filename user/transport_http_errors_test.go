package user_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/user"
)

func TestHTTPErrors(t *testing.T) {
	f := newHTTPFixture(t, nil)
	decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))
	token := decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`)).AccessToken
	bearer := withToken(token)

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		header      http.Header
		wantStatus  int
		wantFields  []string // checked when not nil
	}{
		{"sign-up non-JSON", "POST", user.UsersPath, "application/json", "hello", nil, 400, nil},
		{"sign-up wrong content type", "POST", user.UsersPath, "text/plain", signUpBody, nil, 400, nil},
		{"sign-up empty body", "POST", user.UsersPath, "application/json", "", nil, 400, nil},
		{"sign-up array", "POST", user.UsersPath, "application/json", "[]", nil, 400, nil},
		{"sign-up trailing data", "POST", user.UsersPath, "application/json", signUpBody + "{}", nil, 400, nil},
		{"sign-up missing everything", "POST", user.UsersPath, "application/json", "{}", nil, 400, []string{"email", "password", "name"}},
		{"sign-up null body", "POST", user.UsersPath, "application/json", "null", nil, 400, []string{"email", "password", "name"}},
		{"sign-up null password", "POST", user.UsersPath, "application/json", `{"email":"b@example.com","password":null,"name":"B"}`, nil, 400, []string{"password"}},
		{"sign-up password as number", "POST", user.UsersPath, "application/json", `{"email":"b@example.com","password":12345678,"name":"B"}`, nil, 400, []string{"password"}},
		{"sign-up unknown field", "POST", user.UsersPath, "application/json", `{"email":"b@example.com","password":"correct horse","name":"B","roles":["admin"]}`, nil, 400, []string{"roles"}},
		{"sign-up bad fields", "POST", user.UsersPath, "application/json", `{"email":"b","password":"short","name":""}`, nil, 400, []string{"email", "password", "name"}},
		{"sign-up password is email", "POST", user.UsersPath, "application/json", `{"email":"bob@example.com","password":"BOB@example.com","name":"B"}`, nil, 400, []string{"password"}},
		{"sign-up password too long", "POST", user.UsersPath, "application/json", `{"email":"bob@example.com","password":"` + strings.Repeat("x", 73) + `","name":"B"}`, nil, 400, []string{"password"}},
		{"sign-up body over 1 MiB", "POST", user.UsersPath, "application/json", `{"email":"b@example.com","password":"correct horse","name":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, nil},
		{"sign-up duplicate key", "POST", user.UsersPath, "application/json", `{"email":"b@example.com","password":"correct horse","name":"B","email":"c@example.com"}`, nil, 400, []string{"email"}},
		{"sign-up name not UTF-8", "POST", user.UsersPath, "application/json", "{\"email\":\"b@example.com\",\"password\":\"correct horse\",\"name\":\"B\xe9\"}", nil, 400, []string{"name"}},
		{"sign-up overlong UTF-8", "POST", user.UsersPath, "application/json", "{\"email\":\"b@example.com\",\"password\":\"correct \xc1\xbf\",\"name\":\"B\"}", nil, 400, []string{"password"}},
		{"login duplicate password", "POST", user.LoginPath, "application/json", `{"email":"ann@example.com","password":"x","password":"correct horse"}`, nil, 400, []string{"password"}},
		{"patch duplicate key", "PATCH", user.MePath, "application/json", `{"name":"A","Name":"B"}`, bearer, 400, []string{"Name"}},
		{"login missing password", "POST", user.LoginPath, "application/json", `{"email":"ann@example.com"}`, nil, 400, []string{"password"}},
		{"login empty password", "POST", user.LoginPath, "application/json", `{"email":"ann@example.com","password":""}`, nil, 400, []string{"password"}},
		{"login unknown field", "POST", user.LoginPath, "application/json", `{"email":"ann@example.com","password":"x","remember":true}`, nil, 400, []string{"remember"}},
		{"login not JSON", "POST", user.LoginPath, "application/x-www-form-urlencoded", `email=ann@example.com&password=x`, nil, 400, nil},
		{"refresh missing token", "POST", user.RefreshPath, "application/json", `{}`, nil, 400, []string{"refresh_token"}},
		{"refresh empty token", "POST", user.RefreshPath, "application/json", `{"refresh_token":""}`, nil, 400, []string{"refresh_token"}},
		{"refresh unknown token", "POST", user.RefreshPath, "application/json", `{"refresh_token":"nope"}`, nil, 401, nil},
		{"logout missing token", "POST", user.LogoutPath, "application/json", `{}`, nil, 400, []string{"refresh_token"}},
		{"logout null token", "POST", user.LogoutPath, "application/json", `{"refresh_token":null}`, nil, 400, []string{"refresh_token"}},
		{"patch empty", "PATCH", user.MePath, "application/json", `{}`, bearer, 400, nil},
		{"patch null name", "PATCH", user.MePath, "application/json", `{"name":null}`, bearer, 400, []string{"name"}},
		{"patch roles", "PATCH", user.MePath, "application/json", `{"roles":["admin"]}`, bearer, 400, []string{"roles"}},
		{"patch email", "PATCH", user.MePath, "application/json", `{"email":"x@example.com"}`, bearer, 400, []string{"email"}},
		{"patch password without current", "PATCH", user.MePath, "application/json", `{"password":"new password"}`, bearer, 400, []string{"current_password"}},
		{"patch current password alone", "PATCH", user.MePath, "application/json", `{"current_password":"correct horse"}`, bearer, 400, []string{"current_password"}},
		{"patch blank name", "PATCH", user.MePath, "application/json", `{"name":"  "}`, bearer, 400, []string{"name"}},
		{"patch no body", "PATCH", user.MePath, "application/json", ``, bearer, 400, nil},
		{"me wrong method", "DELETE", user.MePath, "", "", bearer, 405, nil},
		{"login wrong method", "GET", user.LoginPath, "", "", nil, 405, nil},
		{"users list not served", "GET", user.UsersPath, "", "", bearer, 405, nil},
		{"user by id not served", "GET", user.UsersPath + "/" + uuid.NewString(), "", "", bearer, 404, nil},
		{"unknown auth path", "POST", "/api/v1/auth/nothing", "application/json", "{}", nil, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.contentType, tt.body, tt.header)
			p := decodeProblem(t, r, tt.wantStatus)
			if tt.wantFields != nil && !slices.Equal(problemFields(p), tt.wantFields) {
				t.Errorf("fields = %v, want %v (problem %+v)", problemFields(p), tt.wantFields, p)
			}
			if len(r.body) > 4096 {
				t.Errorf("problem body of %d bytes echoes the input", len(r.body))
			}
		})
	}
}

func TestHTTPLoginRateLimit(t *testing.T) {
	f := newHTTPFixture(t, nil)
	decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))
	for range user.DefaultAccountFailures {
		decodeProblem(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"wrong password"}`), http.StatusUnauthorized)
	}
	r := f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`)
	p := decodeProblem(t, r, http.StatusTooManyRequests)
	if p.Kind != "rate_limited" {
		t.Errorf("kind = %q", p.Kind)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want whole seconds", r.header.Get("Retry-After"))
	}
}

func TestHTTPClientAddress(t *testing.T) {
	// Two failures per client, none counted per account.
	throttle := user.WithLoginThrottle(user.NewLoginThrottle(0, 2, time.Hour))
	fail := func(t *testing.T, f *httpFixture, xff string) int {
		t.Helper()
		header := http.Header{}
		if xff != "" {
			header.Set("X-Forwarded-For", xff)
		}
		return f.do(t, http.MethodPost, user.LoginPath, "application/json", `{"email":"ann@example.com","password":"wrong password"}`, header).status
	}

	t.Run("trusted", func(t *testing.T) {
		f := newHTTPFixture(t, []user.HTTPOption{user.TrustForwardedFor(true)}, throttle)
		// The gateway appends the address it saw; what a client put before
		// it does not count.
		for _, xff := range []string{"203.0.113.1", "198.51.100.1, 203.0.113.1"} {
			if got := fail(t, f, xff); got != http.StatusUnauthorized {
				t.Fatalf("failure from 203.0.113.1: %d", got)
			}
		}
		if got := fail(t, f, "198.51.100.2, 203.0.113.1"); got != http.StatusTooManyRequests {
			t.Errorf("third failure from 203.0.113.1: %d, want 429", got)
		}
		if got := fail(t, f, "203.0.113.2"); got != http.StatusUnauthorized {
			t.Errorf("failure from another client: %d, want 401", got)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		f := newHTTPFixture(t, nil, throttle)
		// Every request comes from 127.0.0.1, whatever the header says.
		for i, xff := range []string{"203.0.113.1", "203.0.113.2"} {
			if got := fail(t, f, xff); got != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, got)
			}
		}
		if got := fail(t, f, "203.0.113.3"); got != http.StatusTooManyRequests {
			t.Errorf("third failure with a fresh X-Forwarded-For: %d, want 429", got)
		}
	})
}

// No password, hash or token appears in any response or log line.
func TestHTTPSecretsStaySecret(t *testing.T) {
	f := newHTTPFixture(t, nil)
	const password = "S3cret-Passw0rd!"
	const newPassword = "An0ther-S3cret!"
	var bodies []string
	record := func(r httpResult) httpResult {
		bodies = append(bodies, string(r.body))
		return r
	}

	record(f.postJSON(t, user.UsersPath, `{"email":"zoe.q@example.org","password":"`+password+`","name":"Ann"}`))
	record(f.postJSON(t, user.UsersPath, `{"email":"zoe.q@example.org","password":"`+password+`","name":"Ann"}`)) // conflict
	record(f.postJSON(t, user.UsersPath, `{"email":"bad","password":"`+password+`x","name":""}`))                 // invalid
	record(f.postJSON(t, user.UsersPath, `{"email":"zoe.r@example.org","password":"`+password+`","nam":"Ann"}`))  // unknown field
	record(f.postJSON(t, user.LoginPath, `{"email":"zoe.q@example.org","password":"`+password+`-wrong"}`))        // wrong
	record(f.postJSON(t, user.LoginPath, `{"email":"zoe.q@example.org","password":"`+password+`","x":1}`))        // unknown field
	login := decodeTokens(t, record(f.postJSON(t, user.LoginPath, `{"email":"zoe.q@example.org","password":"`+password+`"}`)))
	record(f.do(t, http.MethodGet, user.MePath, "", "", withToken(login.AccessToken)))
	record(f.do(t, http.MethodPatch, user.MePath, "application/json",
		`{"password":"`+newPassword+`","current_password":"`+password+`-wrong"}`, withToken(login.AccessToken)))
	record(f.do(t, http.MethodPatch, user.MePath, "application/json",
		`{"password":"`+newPassword+`","current_password":"`+password+`"}`, withToken(login.AccessToken)))
	record(f.postJSON(t, user.RefreshPath, `{"refresh_token":"`+login.RefreshToken+`"}`))
	record(f.postJSON(t, user.LogoutPath, `{"refresh_token":"`+login.RefreshToken+`"}`))

	var hash string
	if err := f.pool.QueryRow(t.Context(), `SELECT password_hash FROM users`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "op=login") || !strings.Contains(logs, "method=SignUp") {
		t.Fatalf("logs lack the expected events:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"password": password, "new password": newPassword, "hash": hash, "hash salt": hash[7:29],
		"access token": login.AccessToken, "refresh token": login.RefreshToken, "email": "zoe.q@example.org",
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s:\n%s", name, logs)
		}
		if name == "email" || name == "access token" || name == "refresh token" {
			continue // responses carry these by design
		}
		for _, body := range bodies {
			if strings.Contains(body, secret) {
				t.Errorf("a response contains the %s: %s", name, body)
			}
		}
	}
}
