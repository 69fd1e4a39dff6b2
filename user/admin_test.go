package user_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestEnsureAdmin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	admin, created, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "Root@Example.com", Password: "admin password", Name: "Root"})
	if err != nil {
		t.Fatalf("EnsureAdmin: %v", err)
	}
	if !created || admin.Email != "root@example.com" || !slices.Equal(admin.Roles, []string{auth.RoleCustomer, auth.RoleAdmin}) {
		t.Errorf("first EnsureAdmin = %+v, created %v", admin, created)
	}

	// Again, with another password: nothing changes, the password neither.
	again, created, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "root@example.com", Password: "other password", Name: "Other"})
	if err != nil {
		t.Fatalf("second EnsureAdmin: %v", err)
	}
	if created || again.ID != admin.ID || again.Name != "Root" || !slices.Equal(again.Roles, admin.Roles) {
		t.Errorf("second EnsureAdmin = %+v, created %v; want the same account unchanged", again, created)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: "root@example.com", Password: "admin password"}); err != nil {
		t.Errorf("admin login with the first password: %v", err)
	}

	// An existing customer is never promoted: whoever signed up with the
	// admin's email must not become admin with their own password.
	ann := f.signUp(t, "ann@example.com")
	_, _, err = f.svc.EnsureAdmin(ctx, user.NewUser{Email: "ANN@example.com", Password: "admin password", Name: "Admin"})
	if !errors.Is(err, user.ErrAdminEmailTaken) || !errs.Is(err, errs.Conflict) {
		t.Errorf("EnsureAdmin(existing customer) = %v, want ErrAdminEmailTaken", err)
	}
	pair := f.login(t, "ann@example.com")
	id, err := f.signer.Verifier().Verify(ctx, pair.AccessToken)
	if err != nil || id.HasRole(auth.RoleAdmin) || id.UserID != ann.ID {
		t.Errorf("the customer's token after EnsureAdmin: %+v, %v; want no admin role", id, err)
	}
	if _, err := f.svc.Login(ctx, user.Credentials{Email: "ann@example.com", Password: "admin password"}); err == nil {
		t.Error("the admin password logs in to the customer's account")
	}

	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d users, want 2", n)
	}

	if _, _, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "x@example.com", Password: "short", Name: "X"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("EnsureAdmin with a short password: %v, want invalid", err)
	}
}
