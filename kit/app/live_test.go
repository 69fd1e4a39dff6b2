package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
)

// TestLiveSettings changes a running service's rate limit and log level in
// Consul, and writes an invalid value past kitctl's check.
func TestLiveSettings(t *testing.T) {
	signer := authtest.NewSigner(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	}))
	defer jwks.Close()
	agent := testenv.Consul(t)
	live, err := liveconfig.NewClient(agent.Addr())
	if err != nil {
		t.Fatal(err)
	}
	schema := app.LiveSchema("widget")
	t.Cleanup(func() {
		for _, k := range []string{"rate-limit", "rate-burst", "log-level"} {
			_ = live.Delete(context.Background(), "widget", k)
		}
	})
	var closed []string
	svc := apptest.Start(t, widget(&closed),
		"-database-url", testenv.Database(t),
		"-consul-addr", agent.Addr(),
		"-instance-id", "widget-live",
		"-jwks-url", jwks.URL)
	claims := signer.Claims("u-1", auth.RoleAdmin)
	claims["iss"], claims["aud"] = "test-issuer", "test"
	token := signer.Sign(claims)
	greet := func() string {
		req, _ := http.NewRequest(http.MethodGet, svc.URL("/greet"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s\nlogs:\n%s", what, svc.Logs)
			}
		}
	}
	ctx := context.Background()

	for _, kv := range [][2]string{{"rate-burst", "1"}, {"rate-limit", "0.001"}} {
		if err := live.Set(ctx, schema, kv[0], kv[1], "tester"); err != nil {
			t.Fatal(err)
		}
	}
	eventually("rate limited", func() bool { return strings.Contains(greet(), "too many requests") })
	for _, k := range []string{"rate-limit", "rate-burst"} {
		if err := live.Delete(ctx, "widget", k); err != nil {
			t.Fatal(err)
		}
	}
	eventually("back to the flags' limit", func() bool { return greet() == "hello" })

	if err := live.Set(ctx, schema, "log-level", "error", "tester"); err != nil {
		t.Fatal(err)
	}
	eventually("log level changed", func() bool {
		for _, l := range svc.Logs.Lines() {
			if l["msg"] == "live setting changed" && l["key"] == "log-level" && l["old"] == "info" && l["new"] == "error" && l["by"] == "tester" {
				return true
			}
		}
		return false
	})
	// Info lines are dropped now: a successful call leaves none.
	before := strings.Count(svc.Logs.String(), `"method":"Greet"`)
	if got := greet(); got != "hello" {
		t.Fatalf("greet = %q", got)
	}
	if after := strings.Count(svc.Logs.String(), `"method":"Greet"`); after != before {
		t.Errorf("a call was logged at info level after log-level error")
	}

	// An invalid value written past kitctl: ignored, logged, counted.
	cfg := api.DefaultConfig()
	cfg.Address = agent.Addr()
	c, _ := api.NewClient(cfg)
	if _, err := c.KV().Put(&api.KVPair{Key: liveconfig.Prefix("widget") + "rate-burst", Value: []byte("0")}, nil); err != nil {
		t.Fatal(err)
	}
	eventually("invalid value counted", func() bool {
		v, _ := metricstest.Scrape(t, "http://"+svc.MetricsAddr+"/metrics").Value("kitshop_liveconfig_invalid_total", map[string]string{"key": "rate-burst"})
		return v == 1
	})
	if got := greet(); got != "hello" {
		t.Errorf("after an invalid burst: %q, want hello", got)
	}
	if !strings.Contains(svc.Logs.String(), "invalid live setting ignored") {
		t.Error("no error line for the invalid value (errors pass log-level error)")
	}
}
