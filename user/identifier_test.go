package user_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string // want "": Invalid
	}{
		{"lower-cased and trimmed", "  Ann@Example.COM ", "ann@example.com"},
		{"full-width forms mapped", "\uff41da@\uff45xample.com", "ada@example.com"},
		{"composed (NFC)", "e\u0301mile@example.com", "\u00e9mile@example.com"},
		{"one script other than Latin", "\u0430\u0434\u0430@example.com", "\u0430\u0434\u0430@example.com"},
		{"Japanese kana with Han and Latin", "\u5c71\u7530\u305f\u308d\u3046x@example.jp", "\u5c71\u7530\u305f\u308d\u3046x@example.jp"},
		{"ASCII punctuation", "a.b+c_d-e@example.com", "a.b+c_d-e@example.com"},

		{"Cyrillic a among Latin", "\u0430da@example.com", ""},
		{"Greek omicron among Latin", "b\u03bfb@example.com", ""},
		{"mixed scripts in the domain", "ada@ex\u0430mple.com", ""},
		{"zero-width space", "ada\u200b@example.com", ""},
		{"zero-width joiner", "a\u200dda@example.com", ""},
		{"soft hyphen", "a\u00adda@example.com", ""},
		{"right-to-left override", "\u202eada@example.com", ""},
		{"Hangul filler", "ada\u3164@example.com", ""},
		{"NUL byte", "ada\x00@example.com", ""},
		{"invalid UTF-8", "ada\xff@example.com", ""},
		{"newline", "ada@example.com\nBcc: x@example.com", ""},
		{"no at", "ada.example.com", ""},
		{"space inside", "ada lovelace@example.com", ""},
		{"empty", "", ""},
		{"huge", strings.Repeat("a", 1<<20) + "@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := user.NormalizeEmail(tt.in)
			if tt.want == "" {
				if !errs.Is(err, errs.Invalid) || !slices.Equal(fieldNames(err), []string{"email"}) {
					t.Errorf("NormalizeEmail(%q) = %q, %v; want Invalid naming email", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// Look-alikes of a registered email create no account beside it: they
// are either the same account (full-width forms) or refused (mixed
// scripts, invisible characters); and login finds the account by the same
// normalisation.
func TestLookAlikeEmailsGetNoAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signUp(t, "ada@example.com")
	for name, email := range map[string]string{
		"Cyrillic a": "\u0430da@example.com",
		"zero-width": "ada\u200b@example.com",
	} {
		_, err := f.svc.SignUp(ctx, user.NewUser{Email: email, Password: "another password", Name: "Mallory"})
		if !errs.Is(err, errs.Invalid) || !slices.Equal(fieldNames(err), []string{"email"}) {
			t.Errorf("%s: SignUp = %v, want Invalid naming email", name, err)
		}
	}
	if u, err := f.svc.SignUp(ctx, user.NewUser{Email: "\uff41da@example.com", Password: "another password", Name: "Mallory"}); err != nil || u.ID != "" {
		t.Errorf("full-width: SignUp = %+v, %v; want the taken email's answer", u, err)
	}
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: "\uff21DA@example.com", Password: testPassword}); err != nil {
		t.Errorf("login with the full-width spelling: %v", err)
	}
}

// Text that Postgres refuses (NUL bytes, invalid UTF-8) is a 400 naming
// the field, never a 500.
func TestHTTPTextInputsNeverReachTheDatabaseBroken(t *testing.T) {
	f := newHTTPFixture(t, nil)
	decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))
	login := decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`))
	tests := []struct {
		name, method, path, body string
		token                    string
		want                     []string
	}{
		{"login email NUL", "POST", user.LoginPath, `{"email":"ann\u0000@example.com","password":"correct horse"}`, "", []string{"email"}},
		{"login password NUL", "POST", user.LoginPath, `{"email":"ann@example.com","password":"correct\u0000horse"}`, "", []string{"password"}},
		{"sign-up email NUL", "POST", user.UsersPath, `{"email":"bob\u0000@example.com","password":"correct horse","name":"Bob"}`, "", []string{"email"}},
		{"sign-up name NUL", "POST", user.UsersPath, `{"email":"bob@example.com","password":"correct horse","name":"Bob\u0000"}`, "", []string{"name"}},
		{"sign-up password NUL", "POST", user.UsersPath, `{"email":"bob@example.com","password":"correct\u0000horse","name":"Bob"}`, "", []string{"password"}},
		{"refresh token NUL", "POST", user.RefreshPath, `{"refresh_token":"abc\u0000def"}`, "", []string{"refresh_token"}},
		{"logout token control", "POST", user.LogoutPath, `{"refresh_token":"abc\u0007def"}`, "", []string{"refresh_token"}},
		{"patch name NUL", "PATCH", user.MePath, `{"name":"Ann\u0000"}`, login.AccessToken, []string{"name"}},
		{"patch current password NUL", "PATCH", user.MePath, `{"password":"new password","current_password":"x\u0000"}`, login.AccessToken, []string{"current_password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header http.Header
			if tt.token != "" {
				header = withToken(tt.token)
			}
			r := f.do(t, tt.method, tt.path, "application/json", tt.body, header)
			if p := decodeProblem(t, r, 400); !slices.Equal(problemFields(p), tt.want) {
				t.Errorf("fields %v, want %v", problemFields(p), tt.want)
			}
		})
	}
}
