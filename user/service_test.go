package user_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestValidateNew(t *testing.T) {
	valid := user.NewUser{Email: "ann@example.com", Password: "correct horse", Name: "Ann"}
	tests := []struct {
		name       string
		edit       func(*user.NewUser)
		wantFields []string // nil: valid
	}{
		{"valid", func(*user.NewUser) {}, nil},
		{"password of 8 bytes", func(u *user.NewUser) { u.Password = "12345678" }, nil},
		{"password of 72 bytes", func(u *user.NewUser) { u.Password = strings.Repeat("p", 72) }, nil},
		{"password of 24 three-byte characters", func(u *user.NewUser) { u.Password = strings.Repeat("€", 24) }, nil},
		{"password with spaces kept", func(u *user.NewUser) { u.Password = "  spaced  " }, nil},
		{"password containing the local part", func(u *user.NewUser) { u.Password = "ann-is-great" }, nil},
		{"name of 100 characters", func(u *user.NewUser) { u.Name = strings.Repeat("é", 100) }, nil},
		{"email with plus and subdomain", func(u *user.NewUser) { u.Email = "ann+shop@mail.example.co.uk" }, nil},
		{"email of 254 bytes", func(u *user.NewUser) { u.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com" }, nil},

		{"empty email", func(u *user.NewUser) { u.Email = "" }, []string{"email"}},
		{"blank email", func(u *user.NewUser) { u.Email = "   " }, []string{"email"}},
		{"email without at", func(u *user.NewUser) { u.Email = "ann.example.com" }, []string{"email"}},
		{"email without domain dot", func(u *user.NewUser) { u.Email = "ann@localhost" }, []string{"email"}},
		{"email with display name", func(u *user.NewUser) { u.Email = "Ann <ann@example.com>" }, []string{"email"}},
		{"email in angle brackets", func(u *user.NewUser) { u.Email = "<ann@example.com>" }, []string{"email"}},
		{"two addresses", func(u *user.NewUser) { u.Email = "ann@example.com, bob@example.com" }, []string{"email"}},
		{"email with space inside", func(u *user.NewUser) { u.Email = "ann smith@example.com" }, []string{"email"}},
		{"email domain literal", func(u *user.NewUser) { u.Email = "ann@[192.0.2.1]" }, []string{"email"}},
		{"email of 255 bytes", func(u *user.NewUser) { u.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com" }, []string{"email"}},
		{"email with newline", func(u *user.NewUser) { u.Email = "ann@example.com\nBcc: x@example.com" }, []string{"email"}},
		{"empty password", func(u *user.NewUser) { u.Password = "" }, []string{"password"}},
		{"password of 7 bytes", func(u *user.NewUser) { u.Password = "1234567" }, []string{"password"}},
		{"password of 73 bytes", func(u *user.NewUser) { u.Password = strings.Repeat("p", 73) }, []string{"password"}},
		{"password of 25 three-byte characters", func(u *user.NewUser) { u.Password = strings.Repeat("€", 25) }, []string{"password"}},
		{"password equal to email", func(u *user.NewUser) { u.Email, u.Password = "ann.smith@example.com", "ann.smith@example.com" }, []string{"password"}},
		{"password equal to email in other case", func(u *user.NewUser) { u.Email, u.Password = "ann.smith@example.com", "Ann.Smith@Example.COM" }, []string{"password"}},
		{"password equal to local part", func(u *user.NewUser) { u.Email, u.Password = "ann.smith@example.com", "ANN.SMITH" }, []string{"password"}},
		{"password equal to mixed-case email's local part", func(u *user.NewUser) { u.Email, u.Password = "Ann.Smith@Example.com", "ann.smith" }, []string{"password"}},
		{"empty name", func(u *user.NewUser) { u.Name = "" }, []string{"name"}},
		{"blank name", func(u *user.NewUser) { u.Name = " \t " }, []string{"name"}},
		{"name too long", func(u *user.NewUser) { u.Name = strings.Repeat("x", 101) }, []string{"name"}},
		{"name with newline", func(u *user.NewUser) { u.Name = "two\nlines" }, []string{"name"}},
		{"name invalid UTF-8", func(u *user.NewUser) { u.Name = "a\xffb" }, []string{"name"}},
		{"everything bad", func(u *user.NewUser) { *u = user.NewUser{Email: "x", Password: "short", Name: ""} },
			[]string{"email", "password", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			tt.edit(&in)
			_, err := user.ValidateNew(in)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("ValidateNew: %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Fatalf("error kind = %v (%v), want invalid", got, err)
			}
			if got := fieldNames(err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
			if in.Password != "" && strings.Contains(err.Error(), in.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestValidateNewNormalizes(t *testing.T) {
	got, err := user.ValidateNew(user.NewUser{Email: "  Ann.Smith@Example.COM\t", Password: "  Pass word  ", Name: "  Ann Smith "})
	if err != nil {
		t.Fatal(err)
	}
	want := user.NewUser{Email: "ann.smith@example.com", Password: "  Pass word  ", Name: "Ann Smith"}
	if got != want {
		t.Errorf("ValidateNew = %+v, want %+v (the password untouched)", got, want)
	}
}

func TestValidatePatch(t *testing.T) {
	tests := []struct {
		name       string
		patch      user.Patch
		wantErr    bool
		wantFields []string
	}{
		{name: "name only", patch: user.Patch{Name: ptr("Bob")}},
		{name: "password with current", patch: user.Patch{Password: ptr("new password"), CurrentPassword: ptr("old password")}},
		{name: "empty", patch: user.Patch{}, wantErr: true},
		{name: "current password alone", patch: user.Patch{CurrentPassword: ptr("old password")}, wantErr: true, wantFields: []string{"current_password"}},
		{name: "password without current", patch: user.Patch{Password: ptr("new password")}, wantErr: true, wantFields: []string{"current_password"}},
		{name: "password with empty current", patch: user.Patch{Password: ptr("new password"), CurrentPassword: ptr("")}, wantErr: true, wantFields: []string{"current_password"}},
		{name: "short password", patch: user.Patch{Password: ptr("short"), CurrentPassword: ptr("old password")}, wantErr: true, wantFields: []string{"password"}},
		{name: "blank name and long password", patch: user.Patch{Name: ptr(" "), Password: ptr(strings.Repeat("x", 73)), CurrentPassword: ptr("old password")},
			wantErr: true, wantFields: []string{"name", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := user.ValidatePatch(tt.patch)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("ValidatePatch: %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Fatalf("error kind = %v (%v), want invalid", got, err)
			}
			if got := fieldNames(err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestSignUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.svc.SignUp(ctx, user.NewUser{Email: " Ann@Example.COM ", Password: testPassword, Name: " Ann "})
	if err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	if _, err := uuid.Parse(u.ID); err != nil {
		t.Errorf("id %q is not a UUID", u.ID)
	}
	if u.Email != "ann@example.com" || u.Name != "Ann" || !slices.Equal(u.Roles, []string{auth.RoleCustomer}) {
		t.Errorf("SignUp = %+v, want normalised email and name, role customer", u)
	}
	if u.CreatedAt.IsZero() || u.CreatedAt.Location().String() != "UTC" {
		t.Errorf("created_at = %v, want a UTC time", u.CreatedAt)
	}

	// The hash is bcrypt's, of the password as given.
	var hash string
	if err := f.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2a$04$") || strings.Contains(hash, testPassword) {
		t.Errorf("stored hash %q is not a bcrypt hash of cost 4", hash)
	}

	// A taken email: no error and no user, so nobody learns it is taken,
	// and no second account; the owner's password still holds.
	for _, email := range []string{"ann@example.com", "ANN@EXAMPLE.COM", "  Ann@example.com"} {
		got, err := f.svc.SignUp(ctx, user.NewUser{Email: email, Password: "another password", Name: "Other"})
		if err != nil || got.ID != "" {
			t.Errorf("SignUp(%q) = %+v, %v; want a zero user and no error", email, got, err)
		}
	}
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d users, want 1", n)
	}
	f.login(t, "ann@example.com")
}

// The unique index holds whatever the service does: two emails differing
// in case cannot both be stored.
func TestEmailUniqueInSchema(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signUp(t, "ann@example.com")
	_, err := f.pool.Exec(ctx, `INSERT INTO users (email, name, password_hash) VALUES ('ANN@example.com', 'x', '$2a$04$x')`)
	if err == nil || !strings.Contains(err.Error(), "users_email_key") {
		t.Errorf("insert of upper-case duplicate: %v, want a users_email_key violation", err)
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")

	pair, err := f.svc.Login(ctx, user.Credentials{Email: " ANN@example.com", Password: testPassword})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if pair.UserID != u.ID || pair.ExpiresIn != user.DefaultAccessTTL || pair.AccessToken == "" || len(pair.RefreshToken) != 43 {
		t.Errorf("Login = %+v", pair)
	}
	id, err := f.signer.Verifier().Verify(ctx, pair.AccessToken)
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	if id.UserID != u.ID || !slices.Equal(id.Roles, []string{auth.RoleCustomer}) || id.TokenID == "" {
		t.Errorf("token identity = %+v", id)
	}

	// A wrong password and an unknown email are the same error.
	failures := map[string]user.Credentials{
		"wrong password":         {Email: "ann@example.com", Password: "wrong password"},
		"password in other case": {Email: "ann@example.com", Password: strings.ToUpper(testPassword)},
		"unknown email":          {Email: "nobody@example.com", Password: testPassword},
		"password too long":      {Email: "ann@example.com", Password: testPassword + strings.Repeat("x", 72)},
	}
	for name, c := range failures {
		_, err := f.svc.Login(ctx, c)
		if !errs.Is(err, errs.Unauthenticated) || errs.Message(err) != "invalid email or password" {
			t.Errorf("%s: error %v, want unauthenticated \"invalid email or password\"", name, err)
		}
	}

	for name, c := range map[string]user.Credentials{
		"no email":    {Password: testPassword},
		"no password": {Email: "ann@example.com"},
		"long email":  {Email: strings.Repeat("a", 250) + "@example.com", Password: testPassword},
		// No sign-up accepts these, so no account has them: saying so
		// tells nothing.
		"malformed email":       {Email: "not an email", Password: testPassword},
		"NUL in the email":      {Email: "ann\x00@example.com", Password: testPassword},
		"NUL in the password":   {Email: "ann@example.com", Password: "correct\x00horse"},
		"password not UTF-8":    {Email: "ann@example.com", Password: "correct \xff horse"},
		"mixed-script email":    {Email: "\u0430nn@example.com", Password: testPassword},
		"zero-width in email":   {Email: "ann\u200b@example.com", Password: testPassword},
		"kilobytes of password": {Email: "ann@example.com", Password: strings.Repeat("x", 2048)},
	} {
		if _, err := f.svc.Login(ctx, c); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: error %v, want invalid", name, err)
		}
	}
}

// Bcrypt ignores bytes past the 72nd; a password that only shares its first
// 72 bytes with the real one must not log in.
func TestLoginRejectsTruncationMatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	long := strings.Repeat("p", user.MaxPasswordBytes)
	if _, err := f.svc.SignUp(ctx, user.NewUser{Email: "ann@example.com", Password: long, Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: "ann@example.com", Password: long}); err != nil {
		t.Fatalf("Login with the 72-byte password: %v", err)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: "ann@example.com", Password: long + "extra"}); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("Login with the password plus extra bytes: %v, want unauthenticated", err)
	}
}

func TestGetAuthorization(t *testing.T) {
	f := newFixture(t)
	ann := f.signUp(t, "ann@example.com")
	bob := f.signUp(t, "bob@example.com")
	admin := uuid.NewString()

	tests := []struct {
		name     string
		ctx      context.Context
		id       string
		wantKind errs.Kind // Internal: success
	}{
		{"self", as(ann.ID, auth.RoleCustomer), ann.ID, errs.Internal},
		{"self, upper-case id", as(ann.ID, auth.RoleCustomer), strings.ToUpper(ann.ID), errs.Internal},
		{"admin", as(admin, auth.RoleCustomer, auth.RoleAdmin), ann.ID, errs.Internal},
		{"other customer", as(bob.ID, auth.RoleCustomer), ann.ID, errs.NotFound},
		{"other customer, unknown id", as(bob.ID, auth.RoleCustomer), uuid.NewString(), errs.NotFound},
		{"admin, unknown id", as(admin, auth.RoleAdmin), uuid.NewString(), errs.NotFound},
		{"anonymous", context.Background(), ann.ID, errs.Unauthenticated},
		{"anonymous, malformed id", context.Background(), "x", errs.Unauthenticated},
		{"malformed id", as(ann.ID, auth.RoleCustomer), "x", errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.Get(tt.ctx, tt.id)
			if tt.wantKind == errs.Internal {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if got.ID != ann.ID || got.Email != ann.Email {
					t.Errorf("Get = %+v, want %+v", got, ann)
				}
				return
			}
			if !errs.Is(err, tt.wantKind) {
				t.Errorf("Get error = %v, want %v", err, tt.wantKind)
			}
		})
	}
	// Another customer's "not found" is indistinguishable from an unknown id.
	_, errOther := f.svc.Get(as(bob.ID), ann.ID)
	_, errUnknown := f.svc.Get(as(bob.ID), uuid.NewString())
	if errs.Message(errOther) != errs.Message(errUnknown) {
		t.Errorf("messages differ: %q vs %q", errs.Message(errOther), errs.Message(errUnknown))
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ann := f.signUp(t, "ann.smith@example.com")
	me := as(ann.ID, auth.RoleCustomer)

	got, err := f.svc.Update(me, ann.ID, user.Patch{Name: ptr("  Ann Smith ")})
	if err != nil {
		t.Fatalf("Update name: %v", err)
	}
	if got.Name != "Ann Smith" || got.Email != ann.Email {
		t.Errorf("Update = %+v", got)
	}

	session := f.login(t, ann.Email)
	tests := []struct {
		name       string
		patch      user.Patch
		wantFields []string
	}{
		{"wrong current password", user.Patch{Password: ptr("new password"), CurrentPassword: ptr("wrong password")}, []string{"current_password"}},
		{"password equal to email", user.Patch{Password: ptr("ANN.SMITH@example.com"), CurrentPassword: ptr(testPassword)}, []string{"password"}},
		{"password equal to local part", user.Patch{Password: ptr("Ann.Smith"), CurrentPassword: ptr(testPassword)}, []string{"password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Update(me, ann.ID, tt.patch)
			if !errs.Is(err, errs.Invalid) || !slices.Equal(fieldNames(err), tt.wantFields) {
				t.Errorf("Update error = %v, want invalid %v", err, tt.wantFields)
			}
		})
	}
	// Nothing changed: the old password still works and the session lives.
	f.login(t, ann.Email)

	if _, err := f.svc.Update(me, ann.ID, user.Patch{Password: ptr("new password"), CurrentPassword: ptr(testPassword)}); err != nil {
		t.Fatalf("Update password: %v", err)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: ann.Email, Password: testPassword}); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("login with the old password: %v, want unauthenticated", err)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: ann.Email, Password: "new password"}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	// Changing the password ended the sessions started before.
	if _, err := f.svc.Refresh(ctx, session.RefreshToken); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("refresh of a session from before the change: %v, want unauthenticated", err)
	}

	bob := f.signUp(t, "bob@example.com")
	if _, err := f.svc.Update(as(bob.ID, auth.RoleCustomer), ann.ID, user.Patch{Name: ptr("Mallory")}); !errs.Is(err, errs.NotFound) {
		t.Errorf("update of another user: %v, want not_found", err)
	}
	if _, err := f.svc.Update(me, ann.ID, user.Patch{}); !errs.Is(err, errs.Invalid) {
		t.Errorf("empty patch: %v, want invalid", err)
	}
}

func TestMalformedIDs(t *testing.T) {
	f := newFixture(t)
	ids := []string{
		"",
		"not-a-uuid",
		"6ba7b8109dad11d180b400c04fd430c8",
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}",
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8 ",
	}
	ctx := as(uuid.NewString(), auth.RoleAdmin)
	for _, id := range ids {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			_, errGet := f.svc.Get(ctx, id)
			_, errUpdate := f.svc.Update(ctx, id, user.Patch{Name: ptr("x")})
			for method, err := range map[string]error{"Get": errGet, "Update": errUpdate} {
				if !errs.Is(err, errs.Invalid) || !slices.Equal(fieldNames(err), []string{"id"}) {
					t.Errorf("%s error = %v, want invalid [id]", method, err)
				}
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	f := newFixture(t)
	keys, err := f.svc.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 1 {
		t.Fatalf("JWKS = %+v, want one key", keys)
	}
	got := keys.Keys[0]
	want := auth.PublicJWK(f.signer.KeyID(), f.signer.PublicKey())
	if got != want {
		t.Errorf("key = %+v, want %+v", got, want)
	}
}

func TestNewServiceOptions(t *testing.T) {
	pool := newPool(t)
	repo := user.NewPostgres(pool)
	signer := newSigner(t)
	for name, opts := range map[string][]user.Option{
		"cost too low":     {user.WithBcryptCost(3)},
		"cost too high":    {user.WithBcryptCost(32)},
		"zero refresh TTL": {user.WithBcryptCost(4), user.WithRefreshTTL(0)},
	} {
		if _, err := user.NewService(repo, signer, opts...); err == nil {
			t.Errorf("%s: NewService succeeded", name)
		}
	}
	if _, err := user.NewService(repo, nil, user.WithBcryptCost(4)); err == nil {
		t.Error("NewService without a signer succeeded")
	}
}

// An unknown email costs a bcrypt comparison like a wrong password does, so
// response times do not tell which emails have accounts: every login runs
// one comparison in the hash pool, against the account's hash or a dummy
// of the same cost. The test sees the comparison where it runs instead of
// timing it (a timing check flaked on a busy machine): with the pool's one
// worker held, every one of these logins is refused as too busy, and none
// answers "wrong email or password" without having compared.
func TestLoginComparesForUnknownEmail(t *testing.T) {
	pool := user.NewHashPool(1, 0)
	f := newFixture(t, user.WithHashPool(pool), user.WithLoginThrottle(nil))
	f.signUp(t, "ann@example.com")
	ctx := context.Background()
	logins := []user.Credentials{
		{Email: "ann@example.com", Password: "wrong password"},
		{Email: "nobody@example.com", Password: "wrong password"},
		{Email: "nobody@example.com", Password: strings.Repeat("x", user.MaxPasswordBytes+1)},
	}
	release := occupy(t, pool)
	for _, c := range logins {
		if _, err := f.svc.Login(ctx, c); !errs.Is(err, errs.Unavailable) {
			t.Errorf("Login(%s, %d-byte password) with the hash pool busy: %v, want Unavailable (no comparison, no answer)", c.Email, len(c.Password), err)
		}
	}
	release()
	for _, c := range logins {
		if _, err := f.svc.Login(ctx, c); !errs.Is(err, errs.Unauthenticated) {
			t.Errorf("Login(%s, %d-byte password): %v, want Unauthenticated", c.Email, len(c.Password), err)
		}
	}
}
