package user_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/grpcx"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
	"github.com/kitshop/kitshop/user"
)

// newGRPCClient serves the fixture's service over a loopback listener with
// the kit's server and client.
func newGRPCClient(t *testing.T, f *fixture) userv1.UserServiceClient {
	t.Helper()
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	userv1.RegisterUserServiceServer(srv, user.NewGRPCServer(user.NewEndpoints(f.svc, f.signer.Verifier()), logger))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis) // returns when stopped
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	cc, err := grpcx.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return userv1.NewUserServiceClient(cc)
}

// callAs returns a context that sends token as the caller's bearer token.
func callAs(t *testing.T, token string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+token)
}

func TestGRPCGetUser(t *testing.T) {
	f := newFixture(t)
	client := newGRPCClient(t, f)
	ann := f.signUp(t, "ann@example.com")
	bob := f.signUp(t, "bob@example.com")
	sign := func(id string, roles ...string) string {
		t.Helper()
		tok, err := f.signer.Sign(time.Now(), id, roles)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name     string
		token    string
		id       string
		wantCode codes.Code
	}{
		{"self", sign(ann.ID, auth.RoleCustomer), ann.ID, codes.OK},
		{"admin", sign(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin), ann.ID, codes.OK},
		{"other customer", sign(bob.ID, auth.RoleCustomer), ann.ID, codes.NotFound},
		{"unknown id", sign(uuid.NewString(), auth.RoleAdmin), uuid.NewString(), codes.NotFound},
		{"malformed id", sign(ann.ID, auth.RoleCustomer), "nope", codes.InvalidArgument},
		{"no token", "", ann.ID, codes.Unauthenticated},
		{"forged token", authtest.NewSigner(t).Token(ann.ID, auth.RoleAdmin), ann.ID, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.GetUser(callAs(t, tt.token), &userv1.GetUserRequest{Id: tt.id})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.wantCode)
			}
			if tt.wantCode != codes.OK {
				return
			}
			got := user.FromProto(resp.GetUser())
			if got.ID != ann.ID || got.Email != ann.Email || got.Name != ann.Name ||
				!slices.Equal(got.Roles, ann.Roles) || !got.CreatedAt.Equal(ann.CreatedAt) {
				t.Errorf("GetUser = %+v, want %+v", got, ann)
			}
		})
	}
}
