package app_test

import (
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
	"testing/fstest"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var schema = fstest.MapFS{"00001_widgets.sql": {Data: []byte(`-- +goose Up
CREATE TABLE widgets (id int PRIMARY KEY);
-- +goose Down
DROP TABLE widgets;
`)}}

// widget is a service of a few lines: one endpoint behind the standard
// chain and the token verifier, a table of its own, a closer.
func widget(closed *[]string) app.BuildFunc {
	return func(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
		var greeting string
		a, err := app.New(ctx, app.Spec{
			Name: "widget", HTTPAddr: ":0", MetricsAddr: "127.0.0.1:0", RateLimit: 1000, RateBurst: 2,
			SecretFlags: []string{"greeting"}, DevSecrets: []string{"published-pw"},
			Schema: schema,
			Auth:   app.Auth{Issuer: "test-issuer", Audience: "test", Service: "widget-issuer"},
			Flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&greeting, "greeting", "hello", "what to say")
				return func() error {
					if greeting == "" {
						return errors.New("-greeting must not be empty")
					}
					return nil
				}
			},
		}, args, stderr)
		if err != nil {
			return nil, err
		}
		a.Defer(func() { *closed = append(*closed, "first") })
		a.Defer(func() { *closed = append(*closed, "second") })
		var count int
		if err := a.Pool.QueryRow(ctx, "SELECT count(*) FROM widgets").Scan(&count); err != nil {
			return a.Fail(err)
		}
		ep := endpoint.Chain(a.Endpoint("Greet", nil), auth.Authenticate(a.Verifier))(func(ctx context.Context, _ any) (any, error) {
			if err := auth.RequireRole(ctx, auth.RoleAdmin); err != nil {
				return nil, err
			}
			return greeting, nil
		})
		a.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := auth.HTTPToContext()(r.Context(), r)
			resp, err := ep(ctx, nil)
			if err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			io.WriteString(w, resp.(string))
		}))
		a.GRPC() // the gRPC port serves grpc.health.v1 only
		a.Register(app.Registration{Prefixes: []string{"/api/v1/widgets"}, Public: []consul.PublicRoute{{Method: http.MethodGet, Path: "/api/v1/widgets"}}})
		return a, nil
	}
}

func TestAppServesRegistersAndCloses(t *testing.T) {
	signer := authtest.NewSigner(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	}))
	defer jwks.Close()
	agent := testenv.Consul(t)
	var closed []string
	svc := apptest.Start(t, widget(&closed),
		"-database-url", testenv.Database(t),
		"-consul-addr", agent.Addr(),
		"-instance-id", "widget-1",
		"-jwks-url", jwks.URL,
		"-greeting", "hi")

	claims := signer.Claims("u-1", auth.RoleAdmin)
	claims["iss"], claims["aud"] = "test-issuer", "test"
	tests := []struct {
		name, token string
		want        int
	}{
		{"admin", signer.Sign(claims), http.StatusOK},
		{"no token", "", http.StatusForbidden},
		{"wrong issuer", signer.Token("u-1", auth.RoleAdmin), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, svc.URL("/greet"), nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusOK && string(body) != "hi" {
				t.Errorf("body = %q, want the -greeting flag's value", body)
			}
		})
	}

	// Registered with its bound ports, prefixes and public routes.
	var entries []struct {
		Service struct {
			ID   string
			Port int
			Meta map[string]string
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(entries) == 0 && time.Now().Before(deadline) {
		resp, err := http.Get(agent.URL() + "/v1/health/service/widget?passing")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&entries)
		resp.Body.Close()
		time.Sleep(100 * time.Millisecond)
	}
	if len(entries) != 1 {
		t.Fatalf("consul lists %d passing widget instances, want 1", len(entries))
	}
	got := entries[0].Service
	if got.ID != "widget-1" || "127.0.0.1:"+strconv.Itoa(got.Port) != svc.HTTPAddr ||
		got.Meta[consul.MetaPublicRoutes] != "GET /api/v1/widgets" || got.Meta["api_prefix"] != "/api/v1/widgets" ||
		"127.0.0.1:"+got.Meta["metrics_port"] != svc.MetricsAddr {
		t.Errorf("registration = %+v, want widget-1 on %s with its prefix and public route", got, svc.HTTPAddr)
	}

	// Metrics on the internal listener only.
	for addr, want := range map[string]int{svc.MetricsAddr: http.StatusOK, svc.HTTPAddr: http.StatusForbidden} {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s/metrics = %d, want %d", addr, resp.StatusCode, want)
		}
		if want == http.StatusOK && !strings.Contains(string(body), `kitshop_requests_total{`) {
			t.Errorf("metrics lack the endpoint counters:\n%.500s", body)
		}
	}

	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(closed, ",") != "second,first" {
		t.Errorf("closers ran as %v, want last first", closed)
	}
}

func TestNewRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no database", []string{"-jwks-url", "http://127.0.0.1:1/k"}, "database-url"},
		{"service check", []string{"-database-url", "postgres://x", "-jwks-url", "http://127.0.0.1:1/k", "-greeting", ""}, "-greeting must not be empty"},
		{"no key source", []string{"-database-url", "postgres://x", "-consul-addr", ""}, "-jwks-url is required"},
		{"bad jwks url", []string{"-database-url", "postgres://x", "-jwks-url", "ftp://x"}, "want absolute http(s) URLs"},
		{"stray argument", []string{"-database-url", "postgres://x", "extra"}, "unexpected arguments"},
		{"published secret", []string{"-database-url", "postgres://x", "-jwks-url", "http://127.0.0.1:1/k", "-greeting", "published-pw"}, "greeting"},
		{"published database password", []string{"-database-url", "postgres://u:published-pw@x/db", "-jwks-url", "http://127.0.0.1:1/k"}, "database-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var closed []string
			_, err := widget(&closed)(context.Background(), tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		var closed []string
		if _, err := widget(&closed)(context.Background(), []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("err = %v, want flag.ErrHelp", err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("WIDGET_GREETING", "")
		var closed []string
		_, err := widget(&closed)(context.Background(), []string{"-database-url", "postgres://x", "-jwks-url", "http://127.0.0.1:1/k"}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-greeting must not be empty") {
			t.Errorf("err = %v, want WIDGET_GREETING to set -greeting", err)
		}
	})
}

func TestVersionNeedsNoOtherFlag(t *testing.T) {
	var closed []string
	if _, err := widget(&closed)(context.Background(), []string{"-version"}, io.Discard); !errors.Is(err, app.ErrVersion) {
		t.Errorf("-version = %v, want app.ErrVersion before any other check", err)
	}
}
