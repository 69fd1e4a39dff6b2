package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/kit/requestid"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// start runs the program with args (plus apptest's defaults) until the test
// ends or Stop is called, and waits until it is ready.
func start(t *testing.T, args ...string) *apptest.Service {
	t.Helper()
	// Tokens come from authtest signers, with their own issuer and audience;
	// events go to the test binary's broker.
	return apptest.Start(t, build, append([]string{"-issuer", authtest.Issuer, "-audience", authtest.Audience,
		"-nats-url", testenv.NATS(t).URL()}, args...)...)
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	return send(t, http.MethodGet, url, "", "")
}

// send makes one request, with a bearer token unless token is "" and a JSON
// body unless body is "".
func send(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
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
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, got
}

// newIssuer serves signer's public keys the way the user service does, at
// /.well-known/jwks.json, and returns the server.
func newIssuer(t *testing.T, signer *authtest.Signer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != auth.JWKSPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// checkWrites checks over HTTP and gRPC that the instance lets an admin
// create a product and turns everyone else away.
func checkWrites(t *testing.T, inst *apptest.Service, signer *authtest.Signer) {
	t.Helper()
	admin := signer.Token("admin-1", auth.RoleCustomer, auth.RoleAdmin)
	customer := signer.Token("customer-1", auth.RoleCustomer)
	forged := authtest.NewSigner(t)
	forged.Kid = signer.Kid // another key under the real kid
	base := "http://" + inst.HTTPAddr + "/api/v1/products"
	body := func(sku string) string {
		return `{"sku":"` + sku + `","name":"Main test mug","price_minor":100,"currency":"EUR","stock":1}`
	}

	for _, tt := range []struct {
		name, token string
		want        int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"forged", forged.Token("admin-1", auth.RoleAdmin), http.StatusUnauthorized},
		{"customer", customer, http.StatusForbidden},
		{"admin", admin, http.StatusCreated},
	} {
		if status, _, got := send(t, http.MethodPost, base, tt.token, body("MAIN-HTTP-"+strings.ToUpper(tt.name))); status != tt.want {
			t.Errorf("HTTP create as %s = %d %s, want %d", tt.name, status, got, tt.want)
		}
	}

	cc, err := grpcx.Dial(inst.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := productv1.NewProductServiceClient(cc)
	for _, tt := range []struct {
		name, token string
		want        codes.Code
	}{
		{"anonymous", "", codes.Unauthenticated},
		{"forged", forged.Token("admin-1", auth.RoleAdmin), codes.Unauthenticated},
		{"customer", customer, codes.PermissionDenied},
		{"admin", admin, codes.OK},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if tt.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+tt.token)
		}
		_, err := client.CreateProduct(ctx, &productv1.CreateProductRequest{
			Sku: "MAIN-GRPC-" + strings.ToUpper(tt.name), Name: "Main test mug", PriceMinor: 100, Currency: "EUR",
		})
		cancel()
		if got := status.Code(err); got != tt.want {
			t.Errorf("gRPC create as %s = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestRunServesSeededCatalog(t *testing.T) {
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "", "-seed",
		"-jwks-url", issuer.URL+auth.JWKSPath)
	base := "http://" + inst.HTTPAddr

	if status, _, body := get(t, base+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz = %d %s, want 200", status, body)
	}
	status, header, body := get(t, base+"/api/v1/products?limit=100")
	if status != http.StatusOK {
		t.Fatalf("list = %d %s", status, body)
	}
	if header.Get(requestid.Header) == "" {
		t.Error("no request id on the response")
	}
	var page struct {
		Products []struct {
			ID  string `json:"id"`
			SKU string `json:"sku"`
		} `json:"products"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Products) < 15 {
		t.Fatalf("seeded catalog has %d products, want about 20", len(page.Products))
	}

	cc, err := grpcx.Dial(inst.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := productv1.NewProductServiceClient(cc).GetProduct(ctx, &productv1.GetProductRequest{Id: page.Products[0].ID})
	if err != nil {
		t.Fatalf("GetProduct over gRPC: %v", err)
	}
	if got := resp.GetProduct().GetSku(); got != page.Products[0].SKU {
		t.Errorf("gRPC sku = %q, want %q", got, page.Products[0].SKU)
	}

	checkWrites(t, inst, signer)

	// The calls above, as Prometheus sees them on the HTTP port: by method
	// and outcome, over both transports, with latencies; and the pool and
	// runtime.
	got := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	if status, _, _ := get(t, base+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the HTTP port = %d, want 404: metrics are on the internal listener", status)
	}
	for _, tt := range []struct {
		method, outcome string
		min             float64
	}{
		{"ListProducts", "success", 1},
		{"GetProduct", "success", 1},
		{"CreateProduct", "success", 2},
		{"CreateProduct", "unauthenticated", 4},
		{"CreateProduct", "forbidden", 2},
	} {
		labels := map[string]string{"service": "product", "method": tt.method, "outcome": tt.outcome}
		if v, _ := got.Value("kitshop_requests_total", labels); v < tt.min {
			t.Errorf("kitshop_requests_total%v = %v, want >= %v", labels, v, tt.min)
		}
		if n, _ := got.Count("kitshop_request_duration_seconds", labels); float64(n) < tt.min {
			t.Errorf("kitshop_request_duration_seconds%v count = %d, want >= %v", labels, n, tt.min)
		}
	}
	if v, _ := got.Value("kitshop_db_pool_acquires_total", map[string]string{"pool": "product"}); v < 1 {
		t.Errorf("kitshop_db_pool_acquires_total = %v, want > 0", v)
	}
	for _, name := range []string{"kitshop_db_pool_max_conns", "kitshop_db_pool_idle_conns", "go_goroutines", "process_resident_memory_bytes"} {
		if !got.Has(name) {
			t.Errorf("metrics lack %s", name)
		}
	}

	if err := inst.Stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	logs := inst.Logs.String()
	for _, want := range []string{`"msg":"seed data applied"`, `"msg":"drained"`, `"msg":"stopped"`, `"method":"ListProducts"`,
		`"msg":"catalog changed"`, `"user_id":"admin-1"`, `"kind":"forbidden"`, `"kind":"unauthenticated"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

// TestRunMetricsRateLimited: the endpoint metrics sit outside the rate
// limit, so a refused call is counted, as outcome "rate_limited".
func TestRunMetricsRateLimited(t *testing.T) {
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "", "-jwks-url", "http://127.0.0.1:1/jwks.json",
		"-rate-limit", "0.001", "-rate-burst", "1")
	base := "http://" + inst.HTTPAddr
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		if status, _, body := get(t, base+"/api/v1/products"); status != want {
			t.Fatalf("request %d = %d %s, want %d", i, status, body, want)
		}
	}
	got := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for outcome, want := range map[string]float64{"success": 1, "rate_limited": 1} {
		labels := map[string]string{"service": "product", "method": "ListProducts", "outcome": outcome}
		if v, _ := got.Value("kitshop_requests_total", labels); v != want {
			t.Errorf("kitshop_requests_total%v = %v, want %v", labels, v, want)
		}
	}
	// Scraping is not an endpoint call: it is never rate limited.
	metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
}

func TestRunSeedTwice(t *testing.T) {
	db := testenv.Database(t)
	for range 2 {
		inst := start(t, "-database-url", db, "-consul-addr", "", "-seed", "-jwks-url", "http://127.0.0.1:1/jwks.json")
		if err := inst.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunRegistersInConsul(t *testing.T) {
	c := testenv.Consul(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	// The issuer of the tokens, found through Consul like the user
	// service, under a name of its own so no other test's instances mix in.
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	issuerName := "issuer-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	issuerPort, _ := strconv.Atoi(issuer.URL[strings.LastIndex(issuer.URL, ":")+1:])
	if err := client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: issuerName + "-1", Name: issuerName, Address: "127.0.0.1", Port: issuerPort,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Agent().ServiceDeregister(issuerName + "-1") })

	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", c.Addr(), "-instance-id", "product-test-1",
		"-auth-service", issuerName)

	var svc *consulapi.AgentService
	deadline := time.Now().Add(20 * time.Second)
	for svc == nil {
		if time.Now().After(deadline) {
			t.Fatalf("not registered after 20s; logs:\n%s", inst.Logs)
		}
		services, err := client.Agent().Services()
		if err == nil {
			svc = services["product-test-1"]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if svc.Service != "product" || svc.Meta["api_prefix"] != "/api/v1/products" || !strings.HasSuffix(inst.HTTPAddr, ":"+strconv.Itoa(svc.Port)) {
		t.Errorf("registered %+v, want service product, api_prefix /api/v1/products, port of %s", svc, inst.HTTPAddr)
	}
	if !strings.HasSuffix(inst.GRPCAddr, ":"+svc.Meta["grpc_port"]) {
		t.Errorf("grpc_port meta %q, want the port of %s", svc.Meta["grpc_port"], inst.GRPCAddr)
	}
	if got, want := svc.Meta["public_routes"], "GET /api/v1/products"; got != want {
		t.Errorf("public_routes meta %q, want %q", got, want)
	}
	// The keys come from the issuer Consul lists.
	checkWrites(t, inst, signer)

	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	services, err := client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := services["product-test-1"]; ok {
		t.Error("still registered after shutdown")
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{name: "minimal", args: []string{"-database-url", "postgres://x"}},
		{name: "from environment", env: map[string]string{"PRODUCT_DATABASE_URL": "postgres://x", "PRODUCT_CONSUL_ADDR": "", "PRODUCT_JWKS_URL": "http://keys/jwks.json"}},
		{name: "fixed key urls", args: []string{"-database-url", "postgres://x", "-jwks-url", "http://a/jwks.json, https://b:8443/jwks.json"}},
		{name: "no consul and no key url", args: []string{"-database-url", "postgres://x", "-consul-addr", ""}, wantErr: "-jwks-url is required"},
		{name: "relative key url", args: []string{"-database-url", "postgres://x", "-jwks-url", "/jwks.json"}, wantErr: "-jwks-url"},
		{name: "key url of another scheme", args: []string{"-database-url", "postgres://x", "-jwks-url", "file:///etc/keys"}, wantErr: "-jwks-url"},
		{name: "empty key url in list", args: []string{"-database-url", "postgres://x", "-jwks-url", "http://a/jwks.json,"}, wantErr: "-jwks-url"},
		{name: "empty auth service", args: []string{"-database-url", "postgres://x", "-auth-service", ""}, wantErr: "-auth-service"},
		{name: "empty audience", args: []string{"-database-url", "postgres://x", "-audience", ""}, wantErr: "-audience"},
		{name: "missing database url", args: nil, wantErr: "PRODUCT_DATABASE_URL"},
		{name: "bad log format", args: []string{"-database-url", "x", "-log-format", "yaml"}, wantErr: "-log-format"},
		{name: "bad env value", args: []string{"-database-url", "x"}, env: map[string]string{"PRODUCT_SEED": "maybe"}, wantErr: "PRODUCT_SEED"},
		{name: "unknown flag", args: []string{"-database-url", "x", "-nope"}, wantErr: "nope"},
		{name: "extra argument", args: []string{"-database-url", "x", "extra"}, wantErr: "unexpected arguments"},
		{name: "zero rate", args: []string{"-database-url", "x", "-rate-limit", "0"}, wantErr: "-rate-limit"},
		{name: "negative timeout", args: []string{"-database-url", "x", "-request-timeout", "-1s"}, wantErr: "must not be negative"},
		{name: "negative cache", args: []string{"-database-url", "x", "-cache-items", "-1"}, wantErr: "-cache-items"},
		{name: "published database password", args: []string{"-database-url", "postgres://kitshop:kitshop@db/product"}, wantErr: "database-url"},
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
				if o.DatabaseURL != "postgres://x" || !strings.HasPrefix(o.InstanceID, "product-") {
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
	_, err := app.Parse(spec(&f), []string{"-h"}, &usage)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("error %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(usage.String(), "-database-url") {
		t.Errorf("usage lacks -database-url:\n%s", usage.String())
	}
}

func TestConsulDisabledEnvironment(t *testing.T) {
	t.Setenv("PRODUCT_CONSUL_ADDR", "")
	var f flags
	o, err := app.Parse(spec(&f), []string{"-database-url", "x", "-jwks-url", "http://127.0.0.1:8083/.well-known/jwks.json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.ConsulAddr != "" {
		t.Errorf("consul addr %q, want empty (disabled by PRODUCT_CONSUL_ADDR=\"\")", o.ConsulAddr)
	}
}
