package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

// withHeader returns a context as HTTPToContext leaves it for a request
// with the given Authorization header ("" for none).
func withHeader(t *testing.T, authorization string) context.Context {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return auth.HTTPToContext()(t.Context(), r)
}

// whoami is an endpoint that reports the identity it was called with.
func whoami(ctx context.Context, _ any) (any, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return "anonymous", nil
	}
	return id.UserID, nil
}

func TestMiddleware(t *testing.T) {
	s := authtest.NewSigner(t)
	v := s.Verifier()
	customer := "Bearer " + s.Token("user-1", auth.RoleCustomer)
	admin := "Bearer " + s.Token("admin-1", auth.RoleCustomer, auth.RoleAdmin)
	forged := "Bearer " + authtest.NewSigner(t).Token("admin-1", auth.RoleAdmin)

	authenticated := auth.Authenticate(v)(whoami)
	optional := auth.Optional(v)(whoami)
	adminOnly := endpoint.Chain(auth.Authenticate(v), auth.Admin())(whoami)

	tests := []struct {
		name          string
		ep            endpoint.Endpoint
		authorization string
		want          string    // the caller the endpoint saw
		wantKind      errs.Kind // errs.Internal means success
		wantMsg       string
	}{
		{"authenticate: valid token", authenticated, customer, "user-1", errs.Internal, ""},
		{"authenticate: no token", authenticated, "", "", errs.Unauthenticated, "authentication required"},
		{"authenticate: bad token", authenticated, forged, "", errs.Unauthenticated, "invalid or expired token"},
		{"authenticate: garbage token", authenticated, "Bearer garbage", "", errs.Unauthenticated, "invalid or expired token"},
		{"authenticate: other scheme", authenticated, "Basic dXNlcjpwYXNz", "", errs.Unauthenticated, "authorization must be a single Bearer token"},
		{"optional: valid token", optional, customer, "user-1", errs.Internal, ""},
		{"optional: no token", optional, "", "anonymous", errs.Internal, ""},
		{"optional: bad token", optional, forged, "", errs.Unauthenticated, "invalid or expired token"},
		{"optional: other scheme", optional, "Basic dXNlcjpwYXNz", "", errs.Unauthenticated, "authorization must be a single Bearer token"},
		{"admin: admin", adminOnly, admin, "admin-1", errs.Internal, ""},
		{"admin: customer", adminOnly, customer, "", errs.Forbidden, "permission denied"},
		{"admin: no token", adminOnly, "", "", errs.Unauthenticated, "authentication required"},
		{"admin: forged admin", adminOnly, forged, "", errs.Unauthenticated, "invalid or expired token"},
		{"admin without authenticate", auth.Admin()(whoami), admin, "", errs.Unauthenticated, "authentication required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ep(withHeader(t, tt.authorization), nil)
			if tt.wantKind == errs.Internal {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				if got != tt.want {
					t.Errorf("endpoint saw %v, want %v", got, tt.want)
				}
				return
			}
			if got != nil {
				t.Errorf("endpoint ran and returned %v", got)
			}
			if kind := errs.KindOf(err); kind != tt.wantKind {
				t.Fatalf("kind = %v (err %v), want %v", kind, err, tt.wantKind)
			}
			if msg := errs.Message(err); msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestRequireRole(t *testing.T) {
	tests := []struct {
		name     string
		ctx      context.Context
		role     string
		wantKind errs.Kind // errs.Internal means allowed
	}{
		{"has role", auth.NewContext(t.Context(), auth.Identity{UserID: "u1", Roles: []string{auth.RoleAdmin}}), auth.RoleAdmin, errs.Internal},
		{"lacks role", auth.NewContext(t.Context(), auth.Identity{UserID: "u1", Roles: []string{auth.RoleCustomer}}), auth.RoleAdmin, errs.Forbidden},
		{"no roles", auth.NewContext(t.Context(), auth.Identity{UserID: "u1"}), auth.RoleCustomer, errs.Forbidden},
		{"anonymous", t.Context(), auth.RoleCustomer, errs.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.RequireRole(tt.ctx, tt.role)
			checkDecision(t, err, tt.wantKind)
		})
	}
}

func TestRequireOwnerOrAdmin(t *testing.T) {
	customer := auth.NewContext(t.Context(), auth.Identity{UserID: "u1", Roles: []string{auth.RoleCustomer}})
	admin := auth.NewContext(t.Context(), auth.Identity{UserID: "a1", Roles: []string{auth.RoleCustomer, auth.RoleAdmin}})
	tests := []struct {
		name     string
		ctx      context.Context
		owner    string
		wantKind errs.Kind // errs.Internal means allowed
	}{
		{"owner", customer, "u1", errs.Internal},
		{"someone else's", customer, "u2", errs.Forbidden},
		{"no owner", customer, "", errs.Forbidden},
		{"admin, someone else's", admin, "u2", errs.Internal},
		{"anonymous", t.Context(), "u1", errs.Unauthenticated},
		{"identity without user id", auth.NewContext(t.Context(), auth.Identity{}), "", errs.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.RequireOwnerOrAdmin(tt.ctx, tt.owner)
			checkDecision(t, err, tt.wantKind)
		})
	}
}

func checkDecision(t *testing.T, err error, wantKind errs.Kind) {
	t.Helper()
	if wantKind == errs.Internal {
		if err != nil {
			t.Errorf("err = %v, want allowed", err)
		}
		return
	}
	if got := errs.KindOf(err); got != wantKind {
		t.Errorf("kind = %v (err %v), want %v", got, err, wantKind)
	}
}

func TestIdentityContext(t *testing.T) {
	if id, ok := auth.FromContext(t.Context()); ok {
		t.Errorf("FromContext on an empty context = %+v, true", id)
	}
	roles := []string{auth.RoleCustomer}
	ctx := auth.NewContext(t.Context(), auth.Identity{UserID: "u1", Roles: roles, TokenID: "t1"})
	roles[0] = auth.RoleAdmin // the caller's slice must not reach into the context

	got, ok := auth.FromContext(ctx)
	want := auth.Identity{UserID: "u1", Roles: []string{auth.RoleCustomer}, TokenID: "t1"}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("FromContext = %+v, %v; want %+v", got, ok, want)
	}
	got.Roles[0] = auth.RoleAdmin // nor may a reader change it
	if again, _ := auth.FromContext(ctx); again.HasRole(auth.RoleAdmin) {
		t.Errorf("identity on the context was changed through a returned copy: %+v", again)
	}
}
