package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// TestRunServesStock checks the wiring of the stock API: reservations over
// gRPC with a service token, refused for customers, and logged as stock
// movements.
func TestRunServesStock(t *testing.T) {
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "", "-seed", "-jwks-url", issuer.URL+auth.JWKSPath)

	status, _, body := get(t, "http://"+inst.HTTPAddr+"/api/v1/products?limit=1")
	var page struct {
		Products []struct {
			ID    string `json:"id"`
			Stock int64  `json:"stock"`
		} `json:"products"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Products) != 1 {
		t.Fatalf("list = %d %s", status, body)
	}
	p := page.Products[0]

	cc, err := grpcx.Dial(inst.GRPCAddr, grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := productv1.NewProductServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	order := uuid.NewString()
	reserve := &productv1.ReserveStockRequest{OrderId: order, Items: []*productv1.StockItem{{ProductId: p.ID, Quantity: 1}}}

	customer := auth.NewTokenContext(ctx, signer.Token(uuid.NewString(), auth.RoleCustomer))
	if _, err := client.ReserveStock(customer, reserve); !errs.Is(err, errs.Forbidden) {
		t.Errorf("customer reservation: %v, want Forbidden", err)
	}
	svc := auth.NewTokenContext(ctx, signer.Token(auth.ServiceSubject("order"), auth.RoleService))
	if _, err := client.ReserveStock(svc, reserve); err != nil {
		t.Fatalf("service reservation: %v", err)
	}
	resp, err := client.BatchGetProducts(svc, &productv1.BatchGetProductsRequest{Ids: []string{p.ID}})
	if err != nil || len(resp.GetProducts()) != 1 || resp.GetProducts()[0].GetStock() != p.Stock-1 {
		t.Errorf("BatchGetProducts = %v, %v; want stock %d", resp, err, p.Stock-1)
	}
	if _, err := client.ReleaseStock(svc, &productv1.ReleaseStockRequest{OrderId: order}); err != nil {
		t.Errorf("release: %v", err)
	}

	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	var reserved, released bool
	for _, l := range inst.Logs.Lines() {
		if l["msg"] == "stock changed" && l["order_id"] == order {
			reserved = reserved || l["op"] == "reserve"
			released = released || l["op"] == "release"
		}
	}
	if !reserved || !released {
		t.Errorf("stock movements not logged (reserve %v, release %v)", reserved, released)
	}
}
