package product_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/product"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// newGRPCClient serves the real service on a fresh database over a loopback
// listener with the kit's server and client, verifying tokens of the
// returned callers' signer.
func newGRPCClient(t *testing.T) (productv1.ProductServiceClient, callers) {
	t.Helper()
	who := newCallers(t)
	svc, _, _ := newPostgresService(t)
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	productv1.RegisterProductServiceServer(srv, product.NewGRPCServer(product.NewEndpoints(svc, who.signer.Verifier()), logger))
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
	return productv1.NewProductServiceClient(cc), who
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

func TestGRPCCRUD(t *testing.T) {
	client, who := newGRPCClient(t)
	ctx := grpcContext(t, who.admin)

	before := time.Now().Add(-time.Minute)
	cr, err := client.CreateProduct(ctx, &productv1.CreateProductRequest{
		Sku: "grpc-001", Name: "Pour-over kettle", Description: "1 l", PriceMinor: 4950, Currency: "EUR", Stock: 4,
	})
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	created := product.FromProto(cr.GetProduct())
	if created.SKU != "GRPC-001" || created.Name != "Pour-over kettle" || created.PriceMinor != 4950 || created.Stock != 4 {
		t.Errorf("created %+v", created)
	}
	if created.CreatedAt.Before(before) {
		t.Errorf("created_at %v not set", created.CreatedAt)
	}

	gr, err := client.GetProduct(ctx, &productv1.GetProductRequest{Id: created.ID})
	if err != nil {
		t.Fatalf("GetProduct: %v", err)
	}
	if got := product.FromProto(gr.GetProduct()); got != created {
		t.Errorf("GetProduct = %+v, want %+v", got, created)
	}

	stock := int64(0)
	ur, err := client.UpdateProduct(ctx, &productv1.UpdateProductRequest{Id: created.ID, Stock: &stock})
	if err != nil {
		t.Fatalf("UpdateProduct: %v", err)
	}
	updated := product.FromProto(ur.GetProduct())
	want := created
	want.Stock, want.UpdatedAt = 0, updated.UpdatedAt
	if updated != want {
		t.Errorf("UpdateProduct = %+v, want %+v (only stock changed)", updated, want)
	}

	for _, sku := range []string{"GRPC-002", "GRPC-003"} {
		if _, err := client.CreateProduct(ctx, &productv1.CreateProductRequest{Sku: sku, Name: "x", PriceMinor: 1, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	var skus []string
	token := ""
	for range 10 {
		lr, err := client.ListProducts(ctx, &productv1.ListProductsRequest{Limit: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListProducts: %v", err)
		}
		for _, p := range lr.GetProducts() {
			skus = append(skus, p.GetSku())
		}
		if token = lr.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{"GRPC-001", "GRPC-002", "GRPC-003"}; !slices.Equal(skus, want) {
		t.Errorf("listed %v, want %v", skus, want)
	}
	lr, err := client.ListProducts(ctx, &productv1.ListProductsRequest{Q: "kettle"})
	if err != nil || len(lr.GetProducts()) != 1 {
		t.Errorf("ListProducts(q=kettle) = %v, %v; want one product", lr, err)
	}

	if _, err := client.DeleteProduct(ctx, &productv1.DeleteProductRequest{Id: created.ID}); err != nil {
		t.Fatalf("DeleteProduct: %v", err)
	}
	_, err = client.GetProduct(ctx, &productv1.GetProductRequest{Id: created.ID})
	checkGRPCError(t, err, codes.NotFound, nil)
}

func TestGRPCErrors(t *testing.T) {
	client, who := newGRPCClient(t)
	ctx := grpcContext(t, who.admin)
	if _, err := client.CreateProduct(ctx, &productv1.CreateProductRequest{Sku: "TAKEN-1", Name: "x", PriceMinor: 1, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	negative := int64(-1)
	unknown := uuid.NewString()

	tests := []struct {
		name       string
		call       func() error
		wantCode   codes.Code
		wantFields []string
	}{
		{"get malformed id", func() error {
			_, err := client.GetProduct(ctx, &productv1.GetProductRequest{Id: "nope"})
			return err
		}, codes.InvalidArgument, []string{"id"}},
		{"get unknown id", func() error {
			_, err := client.GetProduct(ctx, &productv1.GetProductRequest{Id: unknown})
			return err
		}, codes.NotFound, nil},
		{"create invalid", func() error {
			_, err := client.CreateProduct(ctx, &productv1.CreateProductRequest{Sku: "", Name: " ", PriceMinor: -1, Currency: "e", Stock: -1})
			return err
		}, codes.InvalidArgument, []string{"sku", "name", "price_minor", "currency", "stock"}},
		{"create duplicate", func() error {
			_, err := client.CreateProduct(ctx, &productv1.CreateProductRequest{Sku: "taken-1", Name: "y", PriceMinor: 1, Currency: "EUR"})
			return err
		}, codes.FailedPrecondition, []string{"sku"}},
		{"update empty", func() error {
			_, err := client.UpdateProduct(ctx, &productv1.UpdateProductRequest{Id: unknown})
			return err
		}, codes.InvalidArgument, nil},
		{"update invalid", func() error {
			_, err := client.UpdateProduct(ctx, &productv1.UpdateProductRequest{Id: unknown, Stock: &negative})
			return err
		}, codes.InvalidArgument, []string{"stock"}},
		{"update unknown id", func() error {
			_, err := client.UpdateProduct(ctx, &productv1.UpdateProductRequest{Id: unknown, PriceMinor: new(int64)})
			return err
		}, codes.NotFound, nil},
		{"delete malformed id", func() error {
			_, err := client.DeleteProduct(ctx, &productv1.DeleteProductRequest{Id: "1"})
			return err
		}, codes.InvalidArgument, []string{"id"}},
		{"delete unknown id", func() error {
			_, err := client.DeleteProduct(ctx, &productv1.DeleteProductRequest{Id: unknown})
			return err
		}, codes.NotFound, nil},
		{"list limit too large", func() error {
			_, err := client.ListProducts(ctx, &productv1.ListProductsRequest{Limit: 1000})
			return err
		}, codes.InvalidArgument, []string{"limit"}},
		{"list negative limit", func() error {
			_, err := client.ListProducts(ctx, &productv1.ListProductsRequest{Limit: -1})
			return err
		}, codes.InvalidArgument, []string{"limit"}},
		{"list bad token", func() error {
			_, err := client.ListProducts(ctx, &productv1.ListProductsRequest{PageToken: "bad"})
			return err
		}, codes.InvalidArgument, []string{"page_token"}},
		{"list q too long", func() error {
			_, err := client.ListProducts(ctx, &productv1.ListProductsRequest{Q: strings.Repeat("q", 201)})
			return err
		}, codes.InvalidArgument, []string{"q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGRPCError(t, tt.call(), tt.wantCode, tt.wantFields)
		})
	}
}

// TestGRPCAuthorization checks the catalog's rules over gRPC, which no
// gateway guards: reads are open, writes need an admin's valid token.
func TestGRPCAuthorization(t *testing.T) {
	client, who := newGRPCClient(t)
	cr, err := client.CreateProduct(grpcContext(t, who.admin), &productv1.CreateProductRequest{Sku: "AUTHZ-1", Name: "x", PriceMinor: 1, Currency: "EUR", Stock: 5})
	if err != nil {
		t.Fatalf("admin CreateProduct: %v", err)
	}
	id := cr.GetProduct().GetId()

	type caller struct {
		name     string
		ctx      context.Context
		wantCode codes.Code
	}
	cases := []caller{
		{"anonymous", grpcContext(t, ""), codes.Unauthenticated},
		{"identity in plain metadata", metadata.AppendToOutgoingContext(grpcContext(t, ""), "x-user-id", adminID, "x-roles", "admin"), codes.Unauthenticated},
		{"basic auth", metadata.AppendToOutgoingContext(grpcContext(t, ""), auth.MetadataKey, "Basic YWRtaW46YWRtaW4="), codes.Unauthenticated},
		{"customer", grpcContext(t, who.customer), codes.PermissionDenied},
	}
	for _, f := range forgedTokens(t, who.signer) {
		cases = append(cases, caller{"forged: " + f.name, grpcContext(t, f.token), codes.Unauthenticated})
	}
	stock := int64(99)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.CreateProduct(c.ctx, &productv1.CreateProductRequest{Sku: "AUTHZ-" + strconv.Itoa(100+i), Name: "x", PriceMinor: 1, Currency: "EUR"})
			checkGRPCError(t, err, c.wantCode, nil)
			_, err = client.UpdateProduct(c.ctx, &productv1.UpdateProductRequest{Id: id, Stock: &stock})
			checkGRPCError(t, err, c.wantCode, nil)
			_, err = client.DeleteProduct(c.ctx, &productv1.DeleteProductRequest{Id: id})
			checkGRPCError(t, err, c.wantCode, nil)
			if _, err := client.GetProduct(c.ctx, &productv1.GetProductRequest{Id: id}); err != nil {
				t.Errorf("GetProduct: %v, want reading to be open", err)
			}
			if _, err := client.ListProducts(c.ctx, &productv1.ListProductsRequest{}); err != nil {
				t.Errorf("ListProducts: %v, want reading to be open", err)
			}
		})
	}

	lr, err := client.ListProducts(grpcContext(t, ""), &productv1.ListProductsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := lr.GetProducts(); len(got) != 1 || got[0].GetStock() != 5 {
		t.Errorf("catalog after refused writes: %v, want the one fixture with stock 5", got)
	}
	if _, err := client.DeleteProduct(grpcContext(t, who.admin), &productv1.DeleteProductRequest{Id: id}); err != nil {
		t.Errorf("admin DeleteProduct: %v", err)
	}
}

// checkGRPCError checks the status code on the wire and the *errs.Error the
// grpcx client rebuilt from it.
func checkGRPCError(t *testing.T, err error, wantCode codes.Code, wantFields []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", wantCode)
	}
	if got := status.Code(err); got != wantCode {
		t.Errorf("code = %v (%v), want %v", got, err, wantCode)
	}
	if got, want := errs.KindOf(err), errs.KindFromGRPCCode(wantCode); got != want {
		t.Errorf("kind = %v, want %v", got, want)
	}
	if errs.Message(err) == "" {
		t.Error("no message")
	}
	if wantFields != nil {
		if got := fieldNames(err); !slices.Equal(got, wantFields) {
			t.Errorf("fields = %v, want %v", got, wantFields)
		}
	}
}
