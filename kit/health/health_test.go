package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

type body struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func get(t *testing.T, h http.Handler, ctx context.Context) (int, body) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
	if got, want := rec.Header().Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("decoding %q: %v", rec.Body, err)
	}
	return rec.Code, b
}

func grpcStatus(t *testing.T, h *health.Health, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := h.GRPC().Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("gRPC health check of %q: %v", service, err)
	}
	return resp.GetStatus()
}

func check(name string, err error) health.Check {
	return health.Check{Name: name, Func: func(context.Context) error { return err }}
}

func TestReadyHandler(t *testing.T) {
	hang := health.Check{Name: "slow", Func: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	tests := []struct {
		name       string
		checks     []health.Check
		ready      bool
		wantStatus int
		want       body
	}{
		{name: "starting", checks: []health.Check{check("postgres", nil)}, ready: false,
			wantStatus: 503, want: body{Status: "not_ready"}},
		{name: "ready without checks", ready: true, wantStatus: 200, want: body{Status: "ready"}},
		{name: "ready with passing check", checks: []health.Check{check("postgres", nil)}, ready: true,
			wantStatus: 200, want: body{Status: "ready", Checks: map[string]string{"postgres": "ok"}}},
		{name: "failing check", ready: true,
			checks:     []health.Check{check("postgres", errs.Wrap(errors.New("dial 10.0.0.5: refused"), errs.Unavailable, "database unreachable")), check("cache", nil)},
			wantStatus: 503, want: body{Status: "not_ready", Checks: map[string]string{"postgres": "database unreachable", "cache": "ok"}}},
		{name: "degraded check keeps the process ready", ready: true,
			checks:     []health.Check{check("postgres", health.Degraded(errs.New(errs.Unavailable, "database unreachable"))), check("cache", nil)},
			wantStatus: 200, want: body{Status: "degraded", Checks: map[string]string{"postgres": "degraded: database unreachable", "cache": "ok"}}},
		{name: "failing check wins over a degraded one", ready: true,
			checks:     []health.Check{check("postgres", health.Degraded(errs.New(errs.Unavailable, "database unreachable"))), check("queue", errs.New(errs.Unavailable, "queue unreachable"))},
			wantStatus: 503, want: body{Status: "not_ready", Checks: map[string]string{"postgres": "degraded: database unreachable", "queue": "queue unreachable"}}},
		{name: "unclassified error is not shown", ready: true,
			checks:     []health.Check{check("postgres", errors.New("password authentication failed for user kitshop"))},
			wantStatus: 503, want: body{Status: "not_ready", Checks: map[string]string{"postgres": "failing"}}},
		{name: "hanging check times out", ready: true, checks: []health.Check{hang, check("postgres", nil)},
			wantStatus: 503, want: body{Status: "not_ready", Checks: map[string]string{"slow": "timed out", "postgres": "ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := health.New(tt.checks...)
			h.SetReady(tt.ready)
			// The probe's own deadline bounds the checks (CheckTimeout is longer).
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			code, got := get(t, h.ReadyHandler(), ctx)
			if code != tt.wantStatus {
				t.Errorf("status = %d, want %d", code, tt.wantStatus)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("body = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadyHandlerDoesNotCheckWhenNotReady(t *testing.T) {
	called := false
	h := health.New(health.Check{Name: "postgres", Func: func(context.Context) error { called = true; return nil }})
	get(t, h.ReadyHandler(), context.Background())
	if called {
		t.Error("check ran while not ready")
	}
}

func TestLiveHandler(t *testing.T) {
	h := health.New(check("postgres", errors.New("down")))
	for _, ready := range []bool{false, true} {
		h.SetReady(ready)
		code, got := get(t, h.LiveHandler(), context.Background())
		if want := (body{Status: "ok"}); code != http.StatusOK || !reflect.DeepEqual(got, want) {
			t.Errorf("ready=%v: /healthz = %d %+v, want 200 %+v", ready, code, got, want)
		}
	}
}

func TestReadinessFollowsGRPC(t *testing.T) {
	const (
		early = "product.v1.ProductService"
		late  = "order.v1.OrderService"
	)
	serving, notServing := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	h := health.New()
	h.AddGRPCService(early)

	steps := []struct {
		name     string
		do       func()
		ready    bool
		services []string // gRPC services to probe; "" is the whole server
		want     healthpb.HealthCheckResponse_ServingStatus
	}{
		{name: "new", do: func() {}, ready: false, services: []string{"", early}, want: notServing},
		{name: "ready", do: func() { h.SetReady(true) }, ready: true, services: []string{"", early}, want: serving},
		{name: "service added while ready", do: func() { h.AddGRPCService(late) }, ready: true, services: []string{"", early, late}, want: serving},
		{name: "draining", do: func() { h.SetReady(false) }, ready: false, services: []string{"", early, late}, want: notServing},
		{name: "added twice", do: func() { h.AddGRPCService(early) }, ready: false, services: []string{"", early, late}, want: notServing},
	}
	for _, s := range steps {
		s.do()
		if got := h.Ready(); got != s.ready {
			t.Errorf("%s: Ready() = %v, want %v", s.name, got, s.ready)
		}
		for _, svc := range s.services {
			if got := grpcStatus(t, h, svc); got != s.want {
				t.Errorf("%s: gRPC status of %q = %s, want %s", s.name, svc, got, s.want)
			}
		}
	}
}

func TestCheckMessagesAreSafe(t *testing.T) {
	h := health.New(check("postgres", errors.New("secret-host:5432")))
	h.SetReady(true)
	rec := httptest.NewRecorder()
	h.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if strings.Contains(rec.Body.String(), "secret-host") {
		t.Errorf("/readyz body %q reveals the check's cause", rec.Body)
	}
}
