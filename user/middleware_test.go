package user_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/user"
)

func TestLoggingMiddleware(t *testing.T) {
	accounts, err := user.ParseServiceAccounts("order:Secret-service-key-1")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, user.WithServiceAccounts(accounts))
	var buf bytes.Buffer
	svc := user.LoggingMiddleware(log.NewLogfmtLogger(&buf))(f.svc)
	ctx := requestid.NewContext(context.Background(), "req-1")

	u, err := svc.SignUp(ctx, user.NewUser{Email: "secret.ann@example.com", Password: "Secret password", Name: "Secret Name"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, user.Credentials{Email: "secret.ann@example.com", Password: "Secret wrong", ClientIP: "192.0.2.7"}); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	pair, err := svc.Login(ctx, user.Credentials{Email: "secret.ann@example.com", Password: "Secret password", ClientIP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, pair.RefreshToken); err == nil {
		t.Fatal("reuse succeeded")
	}
	if err := svc.Logout(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	admin := "00000000-0000-4000-8000-000000000001"
	adminCtx := auth.NewContext(ctx, auth.Identity{UserID: admin, Roles: []string{auth.RoleCustomer, auth.RoleAdmin}})
	if _, err := svc.Update(adminCtx, u.ID, user.Patch{Name: ptr("Secret Other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(adminCtx, u.ID); err != nil {
		t.Fatal(err)
	}
	root, _, err := svc.EnsureAdmin(ctx, user.NewUser{Email: "secret.root@example.com", Password: "Secret root pw", Name: "Secret Root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ServiceToken(ctx, user.ClientCredentials{ClientID: "Secret-pasted-as-id", ClientSecret: "Secret-service-key-1", ClientIP: "192.0.2.8"}); err == nil {
		t.Fatal("ServiceToken with a wrong client id succeeded")
	}
	svcToken, err := svc.ServiceToken(ctx, user.ClientCredentials{ClientID: "order", ClientSecret: "Secret-service-key-1", ClientIP: "192.0.2.8"})
	if err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=info msg="account event" op=sign_up request_id=req-1 user_id=` + u.ID + ` client_ip= created=true`,
		`level=info msg="account event rejected" op=login request_id=req-1 client_ip=192.0.2.7 kind=unauthenticated`,
		`level=info msg="account event" op=login request_id=req-1 user_id=` + u.ID + ` client_ip=192.0.2.7`,
		`level=info msg="account event" op=refresh request_id=req-1 user_id=` + u.ID,
		`level=warn msg="refresh token reused; its session is revoked" op=refresh request_id=req-1`,
		`level=info msg="account event" op=logout request_id=req-1`,
		`level=info msg="account event" op=update request_id=req-1 user_id=` + u.ID + ` fields=name by=` + admin,
		`level=info msg="account event" op=ensure_admin request_id=req-1 user_id=` + root.ID + ` created=true`,
		`level=info msg="account event rejected" op=service_token request_id=req-1 client_ip=192.0.2.8 kind=unauthenticated`,
		`level=info msg="account event" op=service_token request_id=req-1 client_ip=192.0.2.8 subject=service:order`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d log lines, want %d (reads are not logged):\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w+" took=") {
			t.Errorf("line %d:\ngot  %s\nwant %s took=…", i, lines[i], w)
		}
	}
	for _, secret := range []string{"Secret", "secret", pair.RefreshToken, pair.AccessToken, svcToken.Token} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
}

func TestLoggingMiddlewareFailure(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	svc := user.LoggingMiddleware(log.NewLogfmtLogger(&buf))(f.svc)
	f.pool.Close()
	if _, err := svc.SignUp(context.Background(), user.NewUser{Email: "ann@example.com", Password: testPassword, Name: "Ann"}); err == nil {
		t.Fatal("SignUp on a closed pool succeeded")
	}
	got := buf.String()
	for _, want := range []string{"level=error", `msg="account event failed"`, "op=sign_up", "kind=unavailable", "err="} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, testPassword) || strings.Contains(got, "ann@example.com") {
		t.Errorf("log contains the input:\n%s", got)
	}
}
