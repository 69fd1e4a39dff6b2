package user_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestEndpointsWrap(t *testing.T) {
	f := newFixture(t)
	eps := user.NewEndpoints(f.svc, f.signer.Verifier())
	var wrapped, called []string
	eps = eps.Wrap(func(method string) endpoint.Middleware {
		wrapped = append(wrapped, method)
		return func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, req any) (any, error) {
				called = append(called, method)
				return next(ctx, req)
			}
		}
	})
	want := []string{user.MethodSignUp, user.MethodLogin, user.MethodRefresh, user.MethodLogout,
		user.MethodGetMe, user.MethodUpdateMe, user.MethodGetUser, user.MethodJWKS, user.MethodServiceToken}
	if !slices.Equal(wrapped, want) {
		t.Errorf("middleware built for %v, want %v", wrapped, want)
	}

	ctx := context.Background()
	resp, err := eps.SignUp(ctx, user.SignUpRequest{User: user.NewUser{Email: "ann@example.com", Password: testPassword, Name: "Ann"}})
	if err != nil {
		t.Fatal(err)
	}
	u := resp.(user.SignUpResponse).User
	resp, err = eps.Login(ctx, user.LoginRequest{Credentials: user.Credentials{Email: u.Email, Password: testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	pair := resp.(user.TokenResponse).Tokens
	resp, err = eps.Refresh(ctx, user.RefreshRequest{RefreshToken: pair.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	pair = resp.(user.TokenResponse).Tokens

	// The protected endpoints read the token the transports put on the
	// context.
	authed := auth.NewTokenContext(ctx, pair.AccessToken)
	if resp, err := eps.GetMe(authed, user.GetMeRequest{}); err != nil || resp.(user.UserResponse).User.ID != u.ID {
		t.Fatalf("GetMe = %v, %v", resp, err)
	}
	if _, err := eps.UpdateMe(authed, user.UpdateMeRequest{Patch: user.Patch{Name: ptr("Ann Smith")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eps.GetUser(authed, user.GetUserRequest{ID: u.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := eps.JWKS(ctx, user.JWKSRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := eps.Logout(ctx, user.LogoutRequest{RefreshToken: pair.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	// The fixture has no service accounts: refused, but through the
	// middleware.
	if _, err := eps.ServiceToken(ctx, user.ServiceTokenRequest{Credentials: user.ClientCredentials{ClientID: "order", ClientSecret: "a-secret-of-some-length"}}); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("ServiceToken without accounts: %v, want unauthenticated", err)
	}
	want = []string{user.MethodSignUp, user.MethodLogin, user.MethodRefresh, user.MethodGetMe, user.MethodUpdateMe,
		user.MethodGetUser, user.MethodJWKS, user.MethodLogout, user.MethodServiceToken}
	if !slices.Equal(called, want) {
		t.Errorf("middleware called for %v, want %v", called, want)
	}
}

// The protected endpoints authenticate whatever middleware main adds; the
// public ones need no token.
func TestEndpointsAuthentication(t *testing.T) {
	f := newFixture(t)
	eps := user.NewEndpoints(f.svc, f.signer.Verifier())
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")

	// An identity put on the context directly is not enough: the token is
	// what counts.
	forged := auth.NewContext(ctx, auth.Identity{UserID: u.ID, Roles: []string{auth.RoleAdmin}})
	for name, call := range map[string]func(context.Context) (any, error){
		"GetMe": func(ctx context.Context) (any, error) { return eps.GetMe(ctx, user.GetMeRequest{}) },
		"UpdateMe": func(ctx context.Context) (any, error) {
			return eps.UpdateMe(ctx, user.UpdateMeRequest{Patch: user.Patch{Name: ptr("x")}})
		},
		"GetUser": func(ctx context.Context) (any, error) { return eps.GetUser(ctx, user.GetUserRequest{ID: u.ID}) },
	} {
		for ctxName, c := range map[string]context.Context{"anonymous": ctx, "identity without token": forged} {
			if resp, err := call(c); !errs.Is(err, errs.Unauthenticated) || resp != nil {
				t.Errorf("%s, %s: %v, %v; want unauthenticated", name, ctxName, resp, err)
			}
		}
	}
	if _, err := eps.JWKS(ctx, user.JWKSRequest{}); err != nil {
		t.Errorf("JWKS without a token: %v", err)
	}
}

// A request of the wrong type is a wiring bug: Internal, not a panic.
func TestEndpointWrongRequestType(t *testing.T) {
	f := newFixture(t)
	eps := user.NewEndpoints(f.svc, f.signer.Verifier())
	resp, err := eps.Login(context.Background(), user.SignUpRequest{})
	if !errs.Is(err, errs.Internal) || resp != nil {
		t.Errorf("Login(wrong type) = %v, %v; want nil and an internal error", resp, err)
	}
}
