package gateway_test

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// service is an HTTP-only service instance registered in a real Consul.
type service struct {
	*httptest.Server
	id    string
	ready atomic.Bool // what /readyz, and so Consul's check, reports
}

// startService serves name's instance id, answering every path but /readyz
// with its id, and registers it in Consul under prefix. It is deregistered
// when the test ends.
func startService(t *testing.T, client consul.Client, name, id, prefix string) *service {
	t.Helper()
	s := &service{id: id}
	s.ready.Store(true)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			if !s.ready.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		io.WriteString(w, id)
	}))
	t.Cleanup(s.Close)

	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	reg := consul.NewRegistrar(client, consul.Registration{
		Name:          name,
		ID:            id,
		Address:       "127.0.0.1",
		HTTPPort:      p,
		APIPrefix:     prefix,
		CheckInterval: time.Second,
	}, log.NewNopLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Register(ctx); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reg.Deregister(ctx)
	})
	return s
}

// TestConsulRouting runs the gateway against a real Consul: services are
// routed by the prefix they register, a service registered later is routed
// without a restart, instances share the load, and a service whose instances
// all fail their checks answers 503 rather than 404.
func TestConsulRouting(t *testing.T) {
	client, err := consul.NewClient(testenv.Consul(t).Addr())
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(rand.Text()[:8])
	products, orders := "products-"+suffix, "orders-"+suffix

	p1 := startService(t, client, products, products+"-1", "/api/v1/products")

	logs := &syncBuffer{}
	src := gateway.NewConsulSource(client, log.NewLogfmtLogger(logs), consul.WithBackoff(50*time.Millisecond, 500*time.Millisecond))
	t.Cleanup(src.Stop)
	g, err := gateway.New(gateway.Config{Source: src, Logger: log.NewLogfmtLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	gw := &testGateway{Server: httptest.NewServer(g), logs: logs}
	t.Cleanup(func() {
		gw.Close()
		g.Stop()
		if t.Failed() || os.Getenv("GATEWAY_TEST_LOGS") != "" {
			t.Logf("logs:\n%s", logs)
		}
	})

	eventually(t, "products routed", func() bool {
		resp, body := gw.get(t, "/api/v1/products/1")
		return resp.StatusCode == http.StatusOK && body == p1.id
	})
	eventually(t, "source synced", src.Synced)

	resp, body := gw.get(t, "/api/v1/orders/1")
	wantProblem(t, resp, body, http.StatusNotFound, "not_found")

	// A new service becomes reachable without touching the gateway.
	o1 := startService(t, client, orders, orders+"-1", "/api/v1/orders")
	eventually(t, "orders routed", func() bool {
		resp, body := gw.get(t, "/api/v1/orders/1")
		return resp.StatusCode == http.StatusOK && body == o1.id
	})

	// A second instance shares the load.
	p2 := startService(t, client, products, products+"-2", "/api/v1/products")
	eventually(t, "second products instance in rotation", func() bool {
		seen := map[string]bool{}
		for range 4 {
			_, body := gw.get(t, "/api/v1/products")
			seen[body] = true
		}
		return seen[p1.id] && seen[p2.id]
	})

	// Instances failing their checks leave the rotation; with none left the
	// route stays known and answers 503.
	p1.ready.Store(false)
	p2.ready.Store(false)
	eventually(t, "products unavailable", func() bool {
		resp, _ := gw.get(t, "/api/v1/products")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	resp, body = gw.get(t, "/api/v1/products")
	wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")

	p2.ready.Store(true)
	eventually(t, "products back", func() bool {
		resp, body := gw.get(t, "/api/v1/products")
		return resp.StatusCode == http.StatusOK && body == p2.id
	})
}

// eventually polls cond until it holds or a deadline passes. Consul runs
// checks every second and watchers need a round trip to notice.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
