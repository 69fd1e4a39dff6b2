package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// service is an HTTP-only service instance registered in a real Consul.
type service struct {
	*httptest.Server
	id    string
	ready atomic.Bool  // what /readyz, and so Consul's check, reports
	hits  atomic.Int64 // requests other than /readyz and /healthz
}

// spec describes a service instance to register.
type spec struct {
	name, id string
	prefix   string // api_prefix: one prefix or several, comma-separated
	public   string // public_routes
	// handler answers every path but /readyz; nil means answering with
	// the instance's id.
	handler http.HandlerFunc
}

// startService serves the instance sp describes and registers it in Consul.
// It is deregistered when the test ends.
func startService(t *testing.T, client consul.Client, sp spec) *service {
	t.Helper()
	s := &service{id: sp.id}
	s.ready.Store(true)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/readyz":
			if !s.ready.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case r.URL.Path == "/healthz":
			// The gateway's own probes: not traffic it forwarded.
		case sp.handler != nil:
			s.hits.Add(1)
			sp.handler(w, r)
		default:
			s.hits.Add(1)
			io.WriteString(w, sp.id)
		}
	}))
	t.Cleanup(s.Close)

	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	reg := consul.NewRegistrar(client, consul.Registration{
		Name:          sp.name,
		ID:            sp.id,
		Address:       "127.0.0.1",
		HTTPPort:      p,
		APIPrefix:     sp.prefix,
		Meta:          map[string]string{gateway.MetaPublicRoutes: sp.public},
		CheckInterval: time.Second,
	}, log.NewNopLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Register(ctx); err != nil {
		t.Fatalf("register %s: %v", sp.id, err)
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

	productSpec := spec{name: products, prefix: "/api/v1/products", public: "GET /api/v1/products"}
	productSpec.id = products + "-1"
	p1 := startService(t, client, productSpec)

	logs := &testlog.Buffer{}
	src := gateway.NewConsulSource(client, log.NewLogfmtLogger(logs), fastRetry)
	t.Cleanup(src.Stop)
	gw := consulGateway(t, src, authtest.NewSigner(t).KeySource(), logs)

	eventually(t, "products routed", func() bool {
		resp, body := gw.get(t, "/api/v1/products/1")
		return resp.StatusCode == http.StatusOK && body == p1.id
	})
	eventually(t, "source synced", src.Synced)

	resp, body := gw.get(t, "/api/v1/orders/1")
	wantProblem(t, resp, body, http.StatusNotFound, "not_found")

	// A new service becomes reachable without touching the gateway.
	o1 := startService(t, client, spec{name: orders, id: orders + "-1", prefix: "/api/v1/orders", public: "GET /api/v1/orders"})
	eventually(t, "orders routed", func() bool {
		resp, body := gw.get(t, "/api/v1/orders/1")
		return resp.StatusCode == http.StatusOK && body == o1.id
	})

	// A second instance shares the load.
	productSpec.id = products + "-2"
	p2 := startService(t, client, productSpec)
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

// fastRetry shortens the watchers' backoff while Consul is unreachable.
var fastRetry = consul.WithBackoff(50*time.Millisecond, 500*time.Millisecond)

// consulGateway starts a gateway over src and keys that logs to logs (where
// the source may log too).
func consulGateway(t *testing.T, src gateway.Source, keys auth.KeySource, logs *testlog.Buffer) *testGateway {
	t.Helper()
	g, err := gateway.New(gateway.Config{Source: src, Keys: keys, Issuer: authtest.Issuer, Audience: authtest.Audience, Logger: log.NewLogfmtLogger(logs)})
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
	return gw
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

// TestConsulAuth runs the gateway's authentication against a real Consul:
// a fake user service registered there under two prefixes serves the
// signing keys (found through Consul, as in production) and declares its
// public routes. Public routes pass without a token, protected ones need a
// token the keys verify, and malformed declarations are logged once each,
// not on every table rebuild.
func TestConsulAuth(t *testing.T) {
	client, err := consul.NewClient(testenv.Consul(t).Addr())
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ToLower(rand.Text()[:8])
	users := "user-" + suffix
	base := "/t-" + suffix + "/api/v1"
	signer := authtest.NewSigner(t)
	userSpec := spec{
		name:   users,
		id:     users + "-1",
		prefix: base + "/users," + base + "/auth",
		// Two malformed entries and one outside the prefixes, all ignored.
		public: "POST " + base + "/users,POST " + base + "/auth/login,GET " + base + "/auth/jwks.json,BOGUS,get " + base + "/users/me,GET /elsewhere",
		handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == auth.JWKSPath || r.URL.Path == base+"/auth/jwks.json" {
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(signer.JWKS())
				return
			}
			io.WriteString(w, r.URL.Path)
		},
	}
	u1 := startService(t, client, userSpec)

	logs := &testlog.Buffer{}
	logger := log.NewLogfmtLogger(logs)
	src := gateway.NewConsulSource(client, logger, fastRetry)
	t.Cleanup(src.Stop)
	keys := consul.NewKeySource(client, users, nil, logger, fastRetry)
	t.Cleanup(keys.Stop)
	gw := consulGateway(t, src, keys, logs)

	eventually(t, "public login route forwarded without a token", func() bool {
		resp, body := gw.do(t, http.MethodPost, base+"/auth/login", nil, nil)
		return resp.StatusCode == http.StatusOK && body == base+"/auth/login"
	})
	eventually(t, "signing keys fetched through consul", func() bool { return slices.Contains(keys.Kids(), signer.Kid) })

	before := u1.hits.Load()
	// /users/me stays protected: the lower-case "get" entry was ignored.
	for _, path := range []string{base + "/users/me", base + "/auth/sessions"} {
		resp, body := gw.get(t, path)
		wantProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s: 401 without WWW-Authenticate", path)
		}
	}
	if got := u1.hits.Load() - before; got != 0 {
		t.Errorf("the user service got %d requests without a token", got)
	}

	token := signer.Token("user-7", auth.RoleCustomer)
	for _, path := range []string{base + "/users/me", base + "/auth/sessions"} {
		resp, body := gw.do(t, http.MethodGet, path, nil, bearer(token))
		if resp.StatusCode != http.StatusOK || body != path {
			t.Errorf("GET %s with a token = %d %q, want 200 from the service", path, resp.StatusCode, body)
		}
	}
	forged := authtest.NewSigner(t)
	forged.Kid = signer.Kid
	resp, body := gw.do(t, http.MethodGet, base+"/users/me", nil, bearer(forged.Token("user-7", auth.RoleAdmin)))
	wantProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")

	// A second instance with the same declaration rebuilds the table; the
	// problems, already reported, are not logged again.
	userSpec.id = users + "-2"
	startService(t, client, userSpec)
	eventually(t, "second user instance routed", func() bool {
		for _, r := range src.Table().Routes() {
			if r.Service == users && len(r.Instances) == 2 {
				return true
			}
		}
		return false
	})
	for msg, want := range map[string]int{
		`msg="ignoring malformed public route"`:                      2,
		`msg="ignoring public route outside the service's prefixes"`: 1,
	} {
		if got := len(logs.Lines(msg, "service="+users)); got != want {
			t.Errorf("%d log lines with %s, want %d:\n%s", got, msg, want, logs)
		}
	}
}
