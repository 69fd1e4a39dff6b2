package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/liveconfig"
)

// TestBindLive changes a running gateway's settings in Consul: a rate limit
// that was off, the upstream timeout, and the breakers of instances it
// already knows.
func TestBindLive(t *testing.T) {
	svc := serviceName(t)
	slow := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(300 * time.Millisecond):
		}
	})
	routes := &gateway.Routes{}
	routes.Store(mustTable(t, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{slow.instance(svc)}}))
	signer := authtest.NewSigner(t)
	cfg := gateway.Config{Source: routes, Keys: signer.KeySource(), Issuer: authtest.Issuer, Audience: authtest.Audience,
		Logger: log.NewNopLogger(), RateLimit: 0, UpstreamTimeout: 5 * time.Second}
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Stop() })

	agent := testenv.Consul(t)
	client, err := liveconfig.NewClient(agent.Addr())
	if err != nil {
		t.Fatal(err)
	}
	store := liveconfig.NewStore(client, gateway.LiveSchema(), liveconfig.Options{})
	if err := g.BindLive(store, cfg); err != nil {
		t.Fatal(err)
	}
	store.Start()
	t.Cleanup(store.Stop)
	ctx := context.Background()
	t.Cleanup(func() {
		for _, k := range []string{"rate-limit", "rate-burst", "upstream-timeout", "breaker-error-percent"} {
			_ = client.Delete(ctx, gateway.LiveService, k)
		}
	})
	status := func() int {
		resp, err := http.Get(srv.URL + "/api/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	set := func(key, value string) {
		t.Helper()
		if err := client.Set(ctx, gateway.LiveSchema(), key, value, "tester"); err != nil {
			t.Fatal(err)
		}
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
		}
	}

	if got := status(); got != http.StatusOK {
		t.Fatalf("status = %d, want 200", got)
	}
	set("upstream-timeout", "50ms")
	eventually("upstream timeout lowered", func() bool { return status() == http.StatusServiceUnavailable })

	// The breaker of the instance exists now; its threshold follows.
	set("breaker-error-percent", "7")
	eventually("breaker reconfigured", func() bool {
		s := hystrix.GetCircuitSettings()["gateway/"+svc+"/"+svc+"-1"]
		return s != nil && s.ErrorPercentThreshold == 7
	})
	if err := client.Delete(ctx, gateway.LiveService, "upstream-timeout"); err != nil {
		t.Fatal(err)
	}
	eventually("upstream timeout back to the config's", func() bool { return status() == http.StatusOK })

	// Off at start, switched on live.
	set("rate-burst", "1")
	set("rate-limit", "0.01")
	eventually("rate limit on", func() bool { return status() == http.StatusTooManyRequests })
}
