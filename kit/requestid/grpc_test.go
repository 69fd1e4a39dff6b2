package requestid_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/kit/requestid"
)

// recorder remembers the request id each server call saw.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) interceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	r.mu.Lock()
	r.ids = append(r.ids, requestid.FromContext(ctx))
	r.mu.Unlock()
	return handler(ctx, req)
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) == 0 {
		return ""
	}
	return r.ids[len(r.ids)-1]
}

// startHealthServer runs a real gRPC server with the health service over an
// in-memory listener and returns a client connection with the request id
// client interceptor installed.
func startHealthServer(t *testing.T) (healthpb.HealthClient, *recorder) {
	t.Helper()
	rec := &recorder{}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(requestid.UnaryServerInterceptor(), rec.interceptor))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(requestid.UnaryClientInterceptor()),
	)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn), rec
}

func TestGRPCPropagation(t *testing.T) {
	client, rec := startHealthServer(t)

	tests := []struct {
		name     string
		ctxID    string // id on the client's context ("" = none)
		rawMD    string // id set directly in outgoing metadata ("" = none)
		wantSeen string // id the server must see; "" = any freshly generated valid id
	}{
		{"context id propagated", "client-abc", "", "client-abc"},
		{"no id generated", "", "", ""},
		{"explicit metadata wins", "ctx-id", "md-id", "md-id"},
		{"invalid metadata replaced", "", "bad id with spaces", ""},
		{"too long metadata replaced", "", strings.Repeat("z", 200), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.ctxID != "" {
				ctx = requestid.NewContext(ctx, tt.ctxID)
			}
			if tt.rawMD != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, requestid.MetadataKey, tt.rawMD)
			}
			var header metadata.MD
			resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got, want := resp.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
				t.Errorf("status = %v, want %v", got, want)
			}

			seen := rec.last()
			switch {
			case tt.wantSeen != "" && seen != tt.wantSeen:
				t.Errorf("server saw id %q, want %q", seen, tt.wantSeen)
			case tt.wantSeen == "" && (!requestid.Valid(seen) || seen == tt.rawMD):
				t.Errorf("server saw id %q, want a fresh valid id", seen)
			}
			if got := header.Get(requestid.MetadataKey); len(got) != 1 || got[0] != seen {
				t.Errorf("response header %s = %q, want [%q]", requestid.MetadataKey, got, seen)
			}
		})
	}
}
