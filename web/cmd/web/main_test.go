package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// start runs the program with args (plus apptest's defaults) until the test
// ends or Stop is called, and waits until it is ready.
func start(t *testing.T, args ...string) *apptest.Service {
	t.Helper()
	// Tokens come from authtest signers, with their own issuer and audience.
	return apptest.Start(t, build, append([]string{"-issuer", authtest.Issuer, "-audience", authtest.Audience}, args...)...)
}

// send makes one request, with a bearer token unless token is "" and a JSON
// body unless body is "", and returns the status.
func send(t *testing.T, method, url, token, body string) int {
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
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
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

// TestRunServes runs the program on a real database, without Consul, with
// the token keys of a test issuer, and checks what an operator relies on:
// health, metrics on the internal listener only, reads for everyone, writes
// for admins, and a clean shutdown.
func TestRunServes(t *testing.T) {
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-jwks-url", issuer.URL+auth.JWKSPath)
	base := "http://" + inst.HTTPAddr

	admin := signer.Token("admin-1", auth.RoleCustomer, auth.RoleAdmin)
	customer := signer.Token("customer-1", auth.RoleCustomer)
	for _, tt := range []struct {
		method, path, token, body string
		want                      int
	}{
		{http.MethodGet, "/readyz", "", "", http.StatusOK},
		{http.MethodGet, "/api/v1/web/items", "", "", http.StatusOK},
		{http.MethodPost, "/api/v1/web/items", "", `{"name":"x"}`, http.StatusUnauthorized},
		{http.MethodPost, "/api/v1/web/items", customer, `{"name":"x"}`, http.StatusForbidden},
		{http.MethodPost, "/api/v1/web/items", admin, `{"name":"x"}`, http.StatusCreated},
		// The metrics are for Prometheus on the internal listener only.
		{http.MethodGet, "/metrics", "", "", http.StatusNotFound},
	} {
		if got := send(t, tt.method, base+tt.path, tt.token, tt.body); got != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, got, tt.want)
		}
	}

	// The calls above, as Prometheus sees them: by method and outcome,
	// with latencies; and the pool and the runtime.
	got := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for _, tt := range []struct{ method, outcome string }{
		{"ListItems", "success"},
		{"CreateItem", "unauthenticated"},
		{"CreateItem", "forbidden"},
		{"CreateItem", "success"},
	} {
		labels := map[string]string{"service": "web", "method": tt.method, "outcome": tt.outcome}
		if v, _ := got.Value("kitshop_requests_total", labels); v != 1 {
			t.Errorf("kitshop_requests_total%v = %v, want 1", labels, v)
		}
	}
	for _, name := range []string{"kitshop_request_duration_seconds", "kitshop_db_pool_max_conns", "go_goroutines"} {
		if !got.Has(name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if err := inst.Stop(); err != nil {
		t.Errorf("shutdown: %v\nlogs:\n%s", err, inst.Logs)
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
		{name: "from environment", env: map[string]string{"WEB_DATABASE_URL": "postgres://x", "WEB_CONSUL_ADDR": "", "WEB_JWKS_URL": "http://keys/jwks.json"}},
		{name: "no consul and no key url", args: []string{"-database-url", "postgres://x", "-consul-addr", ""}, wantErr: "-jwks-url is required"},
		{name: "relative key url", args: []string{"-database-url", "postgres://x", "-jwks-url", "/keys"}, wantErr: "-jwks-url"},
		{name: "missing database url", args: nil, wantErr: "WEB_DATABASE_URL"},
		{name: "bad log format", args: []string{"-database-url", "postgres://x", "-log-format", "xml"}, wantErr: "-log-format"},
		{name: "no metrics address", args: []string{"-database-url", "postgres://x", "-metrics-addr", ""}, wantErr: "-metrics-addr"},
		{name: "negative timeout", args: []string{"-database-url", "postgres://x", "-request-timeout", "-1s"}, wantErr: "must not be negative"},
		{name: "extra argument", args: []string{"-database-url", "postgres://x", "extra"}, wantErr: "unexpected arguments"},
		{name: "published database password", args: []string{"-database-url", "postgres://kitshop:kitshop@db/web"}, wantErr: "database-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WEB_DATABASE_URL", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var f flags
			o, err := app.Parse(spec(&f), tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if o.DatabaseURL != "postgres://x" || !strings.HasPrefix(o.InstanceID, "web-") {
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
