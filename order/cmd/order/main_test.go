package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/product"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
	"github.com/kitshop/kitshop/user/userapi"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// start runs the program with args (plus apptest's defaults) until the test
// ends or Stop is called, and waits until it is ready.
func start(t *testing.T, args ...string) *apptest.Service {
	t.Helper()
	// Tokens come from authtest signers, with their own issuer and audience.
	return apptest.Start(t, build, append([]string{"-service-secret", "order-secret-0123456789",
		"-issuer", authtest.Issuer, "-audience", authtest.Audience}, args...)...)
}

// deps are the order service's dependencies, real where it matters: the
// product service's code on its own database over gRPC, and a stand-in for
// the user service that serves the signing keys and issues service tokens.
type deps struct {
	signer      *authtest.Signer
	productAddr string
	authURL     string
	catalog     product.Service
	tokenCalls  func() int
}

func startDeps(t *testing.T) *deps {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema, err := migrations.For("product")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	signer := authtest.NewSigner(t)
	repo := product.NewPostgres(pool)
	svc := product.NewService(repo)
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	productv1.RegisterProductServiceServer(srv, product.NewGRPCServer(product.NewEndpoints(svc, signer.Verifier()), logger,
		product.WithStock(product.NewStockEndpoints(product.NewStock(repo), signer.Verifier()))))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})

	var (
		mu     sync.Mutex
		issued int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+auth.JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	})
	mux.HandleFunc("POST "+userapi.TokenPath, func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("client_id") != "order" || r.PostForm.Get("client_secret") != "order-secret-0123456789" {
			http.Error(w, "invalid client", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		issued++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": signer.Token(auth.ServiceSubject("order"), auth.RoleService),
			"token_type":   "Bearer",
			"expires_in":   900,
		})
	})
	users := httptest.NewServer(mux)
	t.Cleanup(users.Close)
	return &deps{signer: signer, productAddr: lis.Addr().String(), authURL: users.URL, catalog: svc,
		tokenCalls: func() int { mu.Lock(); defer mu.Unlock(); return issued }}
}

func (d *deps) args(db string) []string {
	return []string{
		"-database-url", db,
		"-consul-addr", "",
		"-product-addr", d.productAddr,
		"-jwks-url", d.authURL + auth.JWKSPath,
		"-token-url", d.authURL + userapi.TokenPath,
		"-recovery-interval", "100ms",
	}
}

func do(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestRunPlacesOrders(t *testing.T) {
	d := startDeps(t)
	mug, err := d.catalog.Create(context.Background(), product.NewProduct{SKU: "MUG-1", Name: "Mug", PriceMinor: 1250, Currency: "EUR", Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	inst := start(t, d.args(testenv.Database(t))...)
	base := "http://" + inst.HTTPAddr
	user := uuid.NewString()
	token := d.signer.Token(user, auth.RoleCustomer)

	if status, _, body := do(t, "GET", base+"/readyz", "", ""); status != http.StatusOK {
		t.Errorf("/readyz = %d %s", status, body)
	}
	if status, _, _ := do(t, "GET", base+"/api/v1/orders", "", ""); status != http.StatusUnauthorized {
		t.Errorf("list without token = %d, want 401", status)
	}
	status, header, body := do(t, "POST", base+"/api/v1/orders", token, `{"items":[{"product_id":"`+mug.ID+`","quantity":2}]}`)
	if status != http.StatusCreated {
		t.Fatalf("create = %d %s\nlogs:\n%s", status, body, inst.Logs)
	}
	var created struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		TotalMinor int64  `json:"total_minor"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	if created.Status != "confirmed" || created.TotalMinor != 2500 || header.Get("Location") != "/api/v1/orders/"+created.ID {
		t.Errorf("created %s, Location %q", body, header.Get("Location"))
	}
	if status, _, body := do(t, "POST", base+"/api/v1/orders", token, `{"items":[{"product_id":"`+mug.ID+`","quantity":2}]}`); status != http.StatusConflict {
		t.Errorf("order beyond stock = %d %s, want 409", status, body)
	}
	if p, _ := d.catalog.Get(context.Background(), mug.ID); p.Stock != 1 {
		t.Errorf("stock %d, want 1", p.Stock)
	}

	cc, err := grpcx.Dial(inst.GRPCAddr, grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(auth.NewTokenContext(context.Background(), token), 10*time.Second)
	defer cancel()
	got, err := orderv1.NewOrderServiceClient(cc).GetOrder(ctx, &orderv1.GetOrderRequest{Id: created.ID})
	if err != nil || got.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Errorf("GetOrder over gRPC = %v, %v", got, err)
	}
	if d.tokenCalls() != 1 {
		t.Errorf("%d service tokens fetched, want 1 (cached)", d.tokenCalls())
	}

	// The calls above, as Prometheus sees them on the HTTP port, and the
	// breaker around the catalog, closed.
	scraped := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for _, tt := range []struct {
		method, outcome string
		min             float64
	}{
		{"ListOrders", "unauthenticated", 1},
		{"CreateOrder", "success", 1},
		{"CreateOrder", "conflict", 1},
		{"GetOrder", "success", 1},
	} {
		labels := map[string]string{"service": "order", "method": tt.method, "outcome": tt.outcome}
		if v, _ := scraped.Value("kitshop_requests_total", labels); v < tt.min {
			t.Errorf("kitshop_requests_total%v = %v, want >= %v", labels, v, tt.min)
		}
		if n, _ := scraped.Count("kitshop_request_duration_seconds", labels); float64(n) < tt.min {
			t.Errorf("kitshop_request_duration_seconds%v count = %d, want >= %v", labels, n, tt.min)
		}
	}
	if v, ok := scraped.Value("kitshop_breaker_open", map[string]string{"breaker": "order->product"}); !ok || v != 0 {
		t.Errorf("kitshop_breaker_open{breaker=\"order->product\"} = %v (present %v), want 0", v, ok)
	}
	if v, _ := scraped.Value("kitshop_db_pool_acquires_total", map[string]string{"pool": "order"}); v < 1 {
		t.Errorf("kitshop_db_pool_acquires_total = %v, want > 0", v)
	}
	for _, name := range []string{"kitshop_db_pool_max_conns", "go_goroutines"} {
		if !scraped.Has(name) {
			t.Errorf("metrics lack %s", name)
		}
	}

	if err := inst.Stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	logs := inst.Logs.String()
	for _, want := range []string{`"msg":"recovery loop started"`, `"msg":"drained"`, `"msg":"stopped"`, `"method":"CreateOrder"`, `"msg":"order event"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	for _, secret := range []string{"order-secret-0123456789", token} {
		if strings.Contains(logs, secret) {
			t.Error("logs contain a secret")
		}
	}
}

func TestRunRegistersInConsul(t *testing.T) {
	c := testenv.Consul(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", c.Addr(), "-instance-id", "order-test-1")
	var svc *consulapi.AgentService
	deadline := time.Now().Add(20 * time.Second)
	for svc == nil {
		if time.Now().After(deadline) {
			t.Fatalf("not registered after 20s; logs:\n%s", inst.Logs)
		}
		services, err := client.Agent().Services()
		if err == nil {
			svc = services["order-test-1"]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if svc.Service != "order" || svc.Meta["api_prefix"] != "/api/v1/orders" || !strings.HasSuffix(inst.HTTPAddr, ":"+strconv.Itoa(svc.Port)) {
		t.Errorf("registered %+v, want service order, api_prefix /api/v1/orders, port of %s", svc, inst.HTTPAddr)
	}
	if _, ok := svc.Meta["public_routes"]; ok {
		t.Errorf("public_routes %q declared; every order route needs a token", svc.Meta["public_routes"])
	}
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	services, err := client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := services["order-test-1"]; ok {
		t.Error("still registered after shutdown")
	}
}

func TestParseOptions(t *testing.T) {
	noConsul := []string{"-consul-addr", "", "-jwks-url", "http://u/jwks", "-token-url", "http://u/token", "-product-addr", "127.0.0.1:9081"}
	withArgs := func(extra ...string) []string {
		return append(append([]string{"-database-url", "postgres://x", "-service-secret", "s"}, noConsul...), extra...)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{name: "minimal without consul", args: withArgs()},
		{name: "minimal with consul", args: []string{"-database-url", "postgres://x", "-service-secret", "s"}},
		{name: "from environment", env: map[string]string{"ORDER_DATABASE_URL": "postgres://x", "ORDER_SERVICE_SECRET": "s"}},
		{name: "missing database url", args: []string{"-service-secret", "s"}, wantErr: "ORDER_DATABASE_URL"},
		{name: "missing secret", args: []string{"-database-url", "postgres://x"}, wantErr: "ORDER_SERVICE_SECRET"},
		{name: "no consul, no product address", args: []string{"-database-url", "postgres://x", "-service-secret", "s", "-consul-addr", "", "-jwks-url", "http://u", "-token-url", "http://u"}, wantErr: "-product-addr"},
		{name: "bad product address", args: withArgs("-product-addr", "nohost"), wantErr: "-product-addr"},
		{name: "bad jwks url", args: withArgs("-jwks-url", "ftp://x"), wantErr: "-jwks-url"},
		{name: "zero product timeout", args: withArgs("-product-timeout", "0s"), wantErr: "-product-timeout"},
		{name: "zero recovery interval", args: withArgs("-recovery-interval", "0s"), wantErr: "-recovery-interval"},
		{name: "bad log format", args: withArgs("-log-format", "yaml"), wantErr: "-log-format"},
		{name: "bad env value", args: withArgs(), env: map[string]string{"ORDER_RECOVERY_AGE": "soon"}, wantErr: "ORDER_RECOVERY_AGE"},
		{name: "extra argument", args: withArgs("extra"), wantErr: "unexpected arguments"},
		{name: "published service secret", args: withArgs("-service-secret", "dev-order-5909c5a9e17f054cb8d73ea16cfeede9"), wantErr: "service-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var f flags
			o, err := app.Parse(spec(&f), tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if o.DatabaseURL != "postgres://x" || !strings.HasPrefix(o.InstanceID, "order-") || f.serviceSecret != "s" {
					t.Errorf("options %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOptionsHelp(t *testing.T) {
	var usage bytes.Buffer
	var f flags
	if _, err := app.Parse(spec(&f), []string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-service-secret", "-recovery-interval", "-product-timeout"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %s", want)
		}
	}
}

// registerFake registers an instance of service at addr (host:port of its
// HTTP server, and grpcPort for gRPC) in Consul, without health checks, so
// it is passing at once.
func registerFake(t *testing.T, client *consulapi.Client, service, httpAddr string, grpcPort int) {
	t.Helper()
	host, p, err := net.SplitHostPort(httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	id := service + "-" + uuid.NewString()[:8]
	reg := &consulapi.AgentServiceRegistration{ID: id, Name: service, Address: host, Port: port, Meta: map[string]string{}}
	if grpcPort > 0 {
		reg.Meta["grpc_port"] = strconv.Itoa(grpcPort)
	}
	if err := client.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Agent().ServiceDeregister(id) })
}

func TestRunDiscoversDependenciesInConsul(t *testing.T) {
	c := testenv.Consul(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	d := startDeps(t)
	mug, err := d.catalog.Create(context.Background(), product.NewProduct{SKU: "MUG-2", Name: "Mug", PriceMinor: 900, Currency: "EUR", Stock: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Service names of this test's own, so other tests' instances in the
	// shared Consul do not interfere.
	suffix := uuid.NewString()[:8]
	_, grpcPort, _ := net.SplitHostPort(d.productAddr)
	gp, _ := strconv.Atoi(grpcPort)
	registerFake(t, client, "product-"+suffix, d.productAddr, gp)
	registerFake(t, client, "user-"+suffix, strings.TrimPrefix(d.authURL, "http://"), 0)

	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", c.Addr(),
		"-product-service", "product-"+suffix, "-auth-service", "user-"+suffix, "-instance-id", "order-"+suffix)
	token := d.signer.Token(uuid.NewString(), auth.RoleCustomer)
	body := `{"items":[{"product_id":"` + mug.ID + `","quantity":2}]}`
	// The watchers need a moment for their first answer from Consul.
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _, resp := do(t, "POST", "http://"+inst.HTTPAddr+"/api/v1/orders", token, body)
		if status == http.StatusCreated {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("create = %d %s\nlogs:\n%s", status, resp, inst.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p, _ := d.catalog.Get(context.Background(), mug.ID); p.Stock != 0 {
		t.Errorf("stock %d, want 0", p.Stock)
	}
}
