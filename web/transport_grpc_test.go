package web_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/grpcx"
	webv1 "github.com/kitshop/kitshop/proto/web/v1"
	"github.com/kitshop/kitshop/web"
)

// newGRPCClient serves the real service on a fresh database over a loopback
// listener with the kit's server and client, verifying tokens of the
// returned callers' signer.
func newGRPCClient(t *testing.T) (webv1.WebServiceClient, callers) {
	t.Helper()
	who := newCallers(t)
	svc, _ := newPostgresService(t)
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	webv1.RegisterWebServiceServer(srv, web.NewGRPCServer(web.NewEndpoints(svc, who.signer.Verifier()), logger))
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
	return webv1.NewWebServiceClient(cc), who
}

// grpcContext returns a context for calls as the caller of token ("" for an
// anonymous one), which travels as "authorization" metadata.
func grpcContext(t *testing.T, token string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+token)
	}
	return ctx
}

func TestGRPCCreateGetList(t *testing.T) {
	client, who := newGRPCClient(t)

	cr, err := client.CreateItem(grpcContext(t, who.admin), &webv1.CreateItemRequest{Name: "Blue widget", Quantity: 3})
	if err != nil {
		t.Fatalf("CreateItem: %v", err)
	}
	created := web.FromProto(cr.GetItem())
	if created.Name != "Blue widget" || created.Quantity != 3 || created.CreatedAt.IsZero() {
		t.Errorf("created %+v", created)
	}

	// Reading needs no token.
	gr, err := client.GetItem(grpcContext(t, ""), &webv1.GetItemRequest{Id: created.ID})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if got := web.FromProto(gr.GetItem()); got != created {
		t.Errorf("GetItem = %+v, want %+v", got, created)
	}
	lr, err := client.ListItems(grpcContext(t, ""), &webv1.ListItemsRequest{})
	if err != nil {
		t.Fatalf("ListItems: %v", err)
	}
	if len(lr.GetItems()) != 1 || lr.GetItems()[0].GetId() != created.ID || lr.GetNextPageToken() != "" {
		t.Errorf("ListItems = %v, want the one item", lr)
	}
}

// TestGRPCErrors checks that errors keep their meaning over gRPC: access
// rules and bad input map to the canonical codes.
func TestGRPCErrors(t *testing.T) {
	client, who := newGRPCClient(t)
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"create anonymous", func() error {
			_, err := client.CreateItem(grpcContext(t, ""), &webv1.CreateItemRequest{Name: "x"})
			return err
		}, codes.Unauthenticated},
		{"create as customer", func() error {
			_, err := client.CreateItem(grpcContext(t, who.customer), &webv1.CreateItemRequest{Name: "x"})
			return err
		}, codes.PermissionDenied},
		{"create invalid", func() error {
			_, err := client.CreateItem(grpcContext(t, who.admin), &webv1.CreateItemRequest{Name: "", Quantity: -1})
			return err
		}, codes.InvalidArgument},
		{"get malformed id", func() error {
			_, err := client.GetItem(grpcContext(t, ""), &webv1.GetItemRequest{Id: "nope"})
			return err
		}, codes.InvalidArgument},
		{"get unknown id", func() error {
			_, err := client.GetItem(grpcContext(t, ""), &webv1.GetItemRequest{Id: uuid.NewString()})
			return err
		}, codes.NotFound},
		{"list bad limit", func() error {
			_, err := client.ListItems(grpcContext(t, ""), &webv1.ListItemsRequest{Limit: 1000})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Errorf("code = %v, want %v", got, tt.want)
			}
		})
	}
}
