package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// The backends, faked for the storefront's unit tests: in memory, with the
// callers' tokens recorded. The real ones run in deploy/local's
// TestStorefront.

type fakeProducts struct {
	productv1.UnimplementedProductServiceServer
	mu       sync.Mutex
	products []*productv1.Product
}

func (f *fakeProducts) add(sku, name string, price, stock int64) *productv1.Product {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &productv1.Product{Id: uuid.NewString(), Sku: sku, Name: name, PriceMinor: price, Currency: "EUR", Stock: stock}
	f.products = append(f.products, p)
	return p
}

func (f *fakeProducts) ListProducts(_ context.Context, req *productv1.ListProductsRequest) (*productv1.ListProductsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &productv1.ListProductsResponse{}
	for _, p := range f.products {
		if strings.Contains(strings.ToLower(p.Name+" "+p.Sku), strings.ToLower(req.GetQ())) {
			resp.Products = append(resp.Products, p)
		}
	}
	return resp, nil
}

func (f *fakeProducts) GetProduct(_ context.Context, req *productv1.GetProductRequest) (*productv1.GetProductResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.products {
		if p.Id == req.GetId() {
			return &productv1.GetProductResponse{Product: p}, nil
		}
	}
	return nil, errs.New(errs.NotFound, "product not found")
}

func (f *fakeProducts) CreateProduct(ctx context.Context, req *productv1.CreateProductRequest) (*productv1.CreateProductResponse, error) {
	if err := auth.RequireRole(ctx, auth.RoleAdmin); err != nil {
		return nil, err
	}
	if req.GetSku() == "TAKEN" {
		return nil, &errs.Error{Kind: errs.Conflict, Message: "a product with this SKU exists", Fields: []errs.FieldError{{Field: "sku", Message: "already taken"}}}
	}
	return &productv1.CreateProductResponse{Product: f.add(req.GetSku(), req.GetName(), req.GetPriceMinor(), req.GetStock())}, nil
}

type fakeOrders struct {
	orderv1.UnimplementedOrderServiceServer
	mu     sync.Mutex
	orders map[string]*orderv1.Order // by id
	keys   map[string]string         // idempotency key -> id
}

func (f *fakeOrders) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	id, _ := auth.FromContext(ctx)
	key := id.UserID + req.GetIdempotencyKey()
	f.mu.Lock()
	oid, ok := f.keys[key]
	switch {
	case ok && oid == "":
		// As the order service: a request with the key is still placing
		// its order.
		f.mu.Unlock()
		return nil, &errs.Error{Kind: errs.Conflict, Message: "a request with this Idempotency-Key is still being processed; retry shortly", RetryAfter: time.Second}
	case ok:
		defer f.mu.Unlock()
		return &orderv1.CreateOrderResponse{Order: f.orders[oid], Replayed: true}, nil
	}
	f.keys[key] = "" // pending, for a while
	f.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	o := &orderv1.Order{Id: uuid.NewString(), UserId: id.UserID, Status: orderv1.OrderStatus_ORDER_STATUS_CONFIRMED, Currency: "EUR",
		PaymentMethod: req.GetPaymentMethod(), CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now()}
	for _, l := range req.GetItems() {
		o.Items = append(o.Items, &orderv1.OrderItem{ProductId: l.GetProductId(), Name: "Item", Quantity: l.GetQuantity(), UnitPriceMinor: 100, LineTotalMinor: 100 * l.GetQuantity()})
		o.TotalMinor += 100 * l.GetQuantity()
	}
	f.orders[o.Id], f.keys[key] = o, o.Id
	return &orderv1.CreateOrderResponse{Order: o}, nil
}

func (f *fakeOrders) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	id, _ := auth.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[req.GetId()]
	if !ok || o.UserId != id.UserID {
		return nil, errs.New(errs.NotFound, "order not found")
	}
	return &orderv1.GetOrderResponse{Order: o}, nil
}

func (f *fakeOrders) ListOrders(ctx context.Context, _ *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	id, _ := auth.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &orderv1.ListOrdersResponse{}
	for _, o := range f.orders {
		if o.UserId == id.UserID {
			resp.Orders = append(resp.Orders, o)
		}
	}
	return resp, nil
}

func (f *fakeOrders) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
	got, err := f.GetOrder(ctx, &orderv1.GetOrderRequest{Id: req.GetId()})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got.Order.Status, got.Order.CancelReason = orderv1.OrderStatus_ORDER_STATUS_CANCELLED, "customer"
	return &orderv1.CancelOrderResponse{Order: got.Order}, nil
}

type fakeNotifications struct {
	notificationv1.UnimplementedNotificationServiceServer
}

func (fakeNotifications) ListNotifications(ctx context.Context, _ *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	if _, ok := auth.FromContext(ctx); !ok {
		return nil, errs.New(errs.Unauthenticated, "token required")
	}
	return &notificationv1.ListNotificationsResponse{UnreadCount: 1, Notifications: []*notificationv1.Notification{
		{Id: uuid.NewString(), Kind: "welcome", Title: "Welcome to kitshop", Body: "Glad you are here.", CreatedAt: timestamppb.Now()}}}, nil
}

// serveGRPC serves register's services, checking tokens with verifier as
// the services do (a missing token passes, an invalid one does not), and
// returns the address.
func serveGRPC(t testing.TB, verifier *auth.Verifier, register func(*grpc.Server)) string {
	t.Helper()
	srv := grpcx.NewServer(log.NewNopLogger(), grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			ctx = auth.GRPCToContext()(ctx, metadataOf(ctx))
			if token, ok := auth.TokenFromContext(ctx); ok {
				id, err := verifier.Verify(ctx, token)
				if err != nil {
					return nil, err
				}
				ctx = auth.NewContext(ctx, id)
			}
			return next(ctx, req)
		}))
	register(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// fakeUsers is the user service's HTTP API for one customer and one admin.
type fakeUsers struct {
	signer    *authtest.Signer
	mu        sync.Mutex
	passwords map[string]string // email -> password
	ids       map[string]string // email -> user id
	refreshes int
}

func newFakeUsers(t testing.TB, signer *authtest.Signer) (*fakeUsers, *httptest.Server) {
	f := &fakeUsers{signer: signer, passwords: map[string]string{"admin@example.com": "admin-pw-123"},
		ids: map[string]string{"admin@example.com": uuid.NewString()}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		if len(in["password"]) < 8 {
			problem(w, http.StatusBadRequest, "invalid", `{"field":"password","message":"must be at least 8 characters"}`)
			return
		}
		f.mu.Lock()
		if _, ok := f.passwords[in["email"]]; !ok {
			f.passwords[in["email"]], f.ids[in["email"]] = in["password"], uuid.NewString()
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"status":"accepted"}`))
	})
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		ok := in["password"] != "" && f.passwords[in["email"]] == in["password"]
		id := f.ids[in["email"]]
		f.mu.Unlock()
		if !ok {
			problem(w, http.StatusUnauthorized, "unauthenticated", "")
			return
		}
		roles := []string{auth.RoleCustomer}
		if in["email"] == "admin@example.com" {
			roles = append(roles, auth.RoleAdmin)
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": signer.Token(id, roles...), "token_type": "Bearer", "expires_in": 900,
			"refresh_token": "rt-" + id})
	})
	mux.HandleFunc("POST /api/v1/auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		id, ok := strings.CutPrefix(in["refresh_token"], "rt-")
		if !ok {
			problem(w, http.StatusUnauthorized, "unauthenticated", "")
			return
		}
		f.mu.Lock()
		f.refreshes++
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": signer.Token(id, auth.RoleCustomer), "token_type": "Bearer", "expires_in": 900,
			"refresh_token": "rt-" + id})
	})
	mux.HandleFunc("POST /api/v1/auth/logout", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /api/v1/users/me", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"id": "x", "email": "someone@example.com", "name": "Someone"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func problem(w http.ResponseWriter, status int, kind, fields string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	body := `{"title":"x","status":0,"kind":"` + kind + `","detail":"request failed"`
	if fields != "" {
		body += `,"errors":[` + fields + `]`
	}
	w.Write([]byte(body + "}"))
}

func metadataOf(ctx context.Context) metadata.MD {
	md, _ := metadata.FromIncomingContext(ctx)
	return md
}

func (f *fakeUsers) refreshCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes
}

func (f *fakeProducts) UpdateProduct(ctx context.Context, req *productv1.UpdateProductRequest) (*productv1.UpdateProductResponse, error) {
	if err := auth.RequireRole(ctx, auth.RoleAdmin); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.products {
		if p.Id != req.GetId() {
			continue
		}
		if req.Sku != nil {
			p.Sku = req.GetSku()
		}
		if req.Name != nil {
			p.Name = req.GetName()
		}
		if req.Description != nil {
			p.Description = req.GetDescription()
		}
		if req.PriceMinor != nil {
			p.PriceMinor = req.GetPriceMinor()
		}
		if req.Currency != nil {
			p.Currency = req.GetCurrency()
		}
		if req.Stock != nil {
			p.Stock = req.GetStock()
		}
		return &productv1.UpdateProductResponse{Product: p}, nil
	}
	return nil, errs.New(errs.NotFound, "product not found")
}

func (f *fakeProducts) setStock(id string, stock int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.products {
		if p.Id == id {
			p.Stock = stock
		}
	}
}
