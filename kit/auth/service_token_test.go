package auth_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/go-kit/kit/endpoint"
	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

func TestIdentityService(t *testing.T) {
	tests := []struct {
		name     string
		id       auth.Identity
		wantName string
		wantOK   bool
	}{
		{"service account", auth.Identity{UserID: auth.ServiceSubject("order"), Roles: []string{auth.RoleService}}, "order", true},
		{"user", auth.Identity{UserID: "5f0c7c1e-6d3a-4c55-9d6e-2f1b3a4c5d6e", Roles: []string{auth.RoleCustomer}}, "", false},
		{"service subject without the role", auth.Identity{UserID: "service:order", Roles: []string{auth.RoleCustomer}}, "", false},
		{"role without a service subject", auth.Identity{UserID: "order", Roles: []string{auth.RoleService}}, "", false},
		{"empty name", auth.Identity{UserID: "service:", Roles: []string{auth.RoleService}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, ok := tt.id.Service()
			if name != tt.wantName || ok != tt.wantOK {
				t.Errorf("Service() = %q, %v; want %q, %v", name, ok, tt.wantName, tt.wantOK)
			}
		})
	}
}

// countingSource is a TokenSource with a fixed answer that counts calls.
type countingSource struct {
	token string
	err   error
	calls atomic.Int32
}

func (s *countingSource) Token(context.Context) (string, error) {
	s.calls.Add(1)
	return s.token, s.err
}

var errNoToken = errs.Wrap(errors.New("user service down"), errs.Unavailable, "cannot authenticate to other services right now")

func TestContextWithServiceToken(t *testing.T) {
	ts := &countingSource{token: "service-token"}
	ctx, err := auth.ContextWithServiceToken(auth.NewTokenContext(t.Context(), "caller-token"), ts)
	if err != nil {
		t.Fatal(err)
	}
	// The service token wins over the caller's in ContextToGRPC...
	md := metadata.MD{}
	auth.ContextToGRPC()(ctx, &md)
	if got := md.Get(auth.MetadataKey); len(got) != 1 || got[0] != "Bearer service-token" {
		t.Errorf("metadata = %v, want the service token", got)
	}
	// ...and the caller's token is still there for the service's own use.
	if got, _ := auth.TokenFromContext(ctx); got != "caller-token" {
		t.Errorf("TokenFromContext = %q, want the caller's", got)
	}

	failing := &countingSource{err: errNoToken}
	if _, err := auth.ContextWithServiceToken(t.Context(), failing); errs.KindOf(err) != errs.Unavailable {
		t.Errorf("ContextWithServiceToken with a failing source: %v, want unavailable", err)
	}
}

func TestServiceTokenMiddleware(t *testing.T) {
	var called int
	next := func(ctx context.Context, _ any) (any, error) {
		called++
		md := metadata.MD{}
		auth.ContextToGRPC()(ctx, &md)
		return md.Get(auth.MetadataKey), nil
	}
	ts := &countingSource{token: "service-token"}
	resp, err := auth.ServiceTokenMiddleware(ts)(next)(auth.NewTokenContext(t.Context(), "caller-token"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.([]string); len(got) != 1 || got[0] != "Bearer service-token" {
		t.Errorf("metadata = %v, want the service token", got)
	}

	failing := &countingSource{err: errNoToken}
	_, err = auth.ServiceTokenMiddleware(failing)(next)(t.Context(), nil)
	if errs.KindOf(err) != errs.Unavailable {
		t.Errorf("error = %v, want unavailable", err)
	}
	if called != 1 {
		t.Errorf("next called %d times, want once (not for the failed token)", called)
	}
}

// serviceTokenServer serves grpc.health.v1 on an in-memory listener and
// records the token of each call.
func serviceTokenServer(t *testing.T) (*tokenRecorder, func(...grpc.UnaryClientInterceptor) *grpc.ClientConn) {
	t.Helper()
	rec := &tokenRecorder{}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(rec.intercept))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	dial := func(interceptors ...grpc.UnaryClientInterceptor) *grpc.ClientConn {
		t.Helper()
		conn, err := grpc.NewClient("passthrough:///bufnet",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithChainUnaryInterceptor(interceptors...),
		)
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	return rec, dial
}

func (r *tokenRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens)
}

func TestServiceTokenInterceptor(t *testing.T) {
	rec, dial := serviceTokenServer(t)
	ts := &countingSource{token: "service-token"}
	caller := func(ctx context.Context) context.Context { return auth.NewTokenContext(ctx, "caller-token") }
	tests := []struct {
		name         string
		interceptors []grpc.UnaryClientInterceptor
		ctx          func(context.Context) context.Context
	}{
		{"anonymous caller", []grpc.UnaryClientInterceptor{auth.ServiceTokenInterceptor(ts)}, func(ctx context.Context) context.Context { return ctx }},
		{"caller token on the context", []grpc.UnaryClientInterceptor{auth.ServiceTokenInterceptor(ts)}, caller},
		{"forwarding interceptor first", []grpc.UnaryClientInterceptor{auth.UnaryClientInterceptor(), auth.ServiceTokenInterceptor(ts)}, caller},
		{"forwarding interceptor last", []grpc.UnaryClientInterceptor{auth.ServiceTokenInterceptor(ts), auth.UnaryClientInterceptor()}, caller},
		{"explicit metadata", []grpc.UnaryClientInterceptor{auth.ServiceTokenInterceptor(ts)}, func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer explicit", "x-other", "kept")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := healthpb.NewHealthClient(dial(tt.interceptors...))
			if _, err := client.Check(tt.ctx(t.Context()), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := rec.last(); got != "service-token" {
				t.Errorf("server saw token %q, want the service token", got)
			}
		})
	}

	t.Run("source fails", func(t *testing.T) {
		before := rec.count()
		failing := &countingSource{err: errNoToken}
		client := healthpb.NewHealthClient(dial(auth.ServiceTokenInterceptor(failing)))
		_, err := client.Check(auth.NewTokenContext(t.Context(), "caller-token"), &healthpb.HealthCheckRequest{})
		if errs.KindOf(err) != errs.Unavailable {
			t.Errorf("Check: %v, want the source's unavailable error", err)
		}
		if rec.count() != before {
			t.Error("the call was made without a service token")
		}
	})

	t.Run("token from the context", func(t *testing.T) {
		other := &countingSource{token: "other-token"}
		ctx, err := auth.ContextWithServiceToken(t.Context(), other)
		if err != nil {
			t.Fatal(err)
		}
		ts.calls.Store(0)
		client := healthpb.NewHealthClient(dial(auth.ServiceTokenInterceptor(ts)))
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := rec.last(); got != "other-token" || ts.calls.Load() != 0 {
			t.Errorf("server saw %q, source asked %d times; want the context's token, no call", got, ts.calls.Load())
		}

		// The forwarding interceptor alone sends it too, not the caller's.
		client = healthpb.NewHealthClient(dial(auth.UnaryClientInterceptor()))
		if _, err := client.Check(auth.NewTokenContext(ctx, "caller-token"), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := rec.last(); got != "other-token" {
			t.Errorf("UnaryClientInterceptor sent %q, want the service token on the context", got)
		}
	})
}

func TestServiceTokenToGRPC(t *testing.T) {
	rec, dial := serviceTokenServer(t)
	conn := dial()
	kitClient := func(ts auth.TokenSource, before ...grpctransport.ClientRequestFunc) endpoint.Endpoint {
		return grpctransport.NewClient(conn, "grpc.health.v1.Health", "Check",
			func(context.Context, any) (any, error) { return &healthpb.HealthCheckRequest{}, nil },
			func(_ context.Context, resp any) (any, error) { return resp, nil },
			&healthpb.HealthCheckResponse{},
			grpctransport.ClientBefore(before...),
		).Endpoint()
	}
	ts := &countingSource{token: "service-token"}
	callerCtx := auth.NewTokenContext(t.Context(), "caller-token")

	tests := []struct {
		name     string
		endpoint endpoint.Endpoint
		want     string
	}{
		{"alone", kitClient(ts, auth.ServiceTokenToGRPC(ts)), "service-token"},
		{"after ContextToGRPC", kitClient(ts, auth.ContextToGRPC(), auth.ServiceTokenToGRPC(ts)), "service-token"},
		{"before ContextToGRPC", kitClient(ts, auth.ServiceTokenToGRPC(ts), auth.ContextToGRPC()), "service-token"},
		{"behind the middleware", auth.ServiceTokenMiddleware(ts)(kitClient(ts, auth.ContextToGRPC(), auth.ServiceTokenToGRPC(ts))), "service-token"},
		{"failing source: no credentials rather than the caller's", kitClient(ts, auth.ContextToGRPC(), auth.ServiceTokenToGRPC(&countingSource{err: errNoToken})), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.endpoint(callerCtx, nil); err != nil {
				t.Fatalf("call: %v", err)
			}
			if got := rec.last(); got != tt.want {
				t.Errorf("server saw token %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("middleware stops a call without a token", func(t *testing.T) {
		before := rec.count()
		failing := &countingSource{err: errNoToken}
		_, err := auth.ServiceTokenMiddleware(failing)(kitClient(failing, auth.ServiceTokenToGRPC(failing)))(callerCtx, nil)
		if errs.KindOf(err) != errs.Unavailable {
			t.Errorf("call: %v, want unavailable", err)
		}
		if rec.count() != before {
			t.Error("the call was made")
		}
	})
}
