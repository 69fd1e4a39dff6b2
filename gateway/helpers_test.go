package gateway_test

import (
	"crypto/rand"
	"encoding/json"
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
	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/httpx"
)

// logWait bounds the wait for a log line: the access log is written after
// the response has gone out.
const logWait = 2 * time.Second

// upstream is a real HTTP server standing in for one service instance.
type upstream struct {
	*httptest.Server
	id   string
	hits atomic.Int64
}

// newUpstream starts an instance that counts requests and answers with h,
// or with 200 and its id when h is nil; it answers /healthz itself.
func newUpstream(t testing.TB, id string, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{id: id}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, id) }
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			// As kit/server does, apart from the service's handler: the
			// gateway's probes are not requests a test counts.
			io.WriteString(w, `{"status":"ok"}`)
			return
		}
		u.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// instance describes u as Consul would.
func (u *upstream) instance(service string) consul.Instance {
	return instanceAt(u.id, service, u.Listener.Addr().String())
}

func instanceAt(id, service, addr string) consul.Instance {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	p, _ := strconv.Atoi(port)
	return consul.Instance{ID: id, Service: service, Address: host, HTTPPort: p}
}

// deadInstance returns an instance whose port refuses connections.
func deadInstance(t testing.TB, id, service string) consul.Instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return instanceAt(id, service, addr)
}

// serviceName returns a service name unique to the test run. Hystrix keeps
// its circuits in a process-wide registry by name, so tests (and repeated
// runs of one test, with -count) must not share instance breakers.
func serviceName(t testing.TB) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "-" + rand.Text()[:6]
}

// testGateway is a gateway behind a real HTTP server, fed by a hand-held
// route source.
type testGateway struct {
	*httptest.Server
	routes *gateway.Routes
	logs   *testlog.Buffer
	signer *authtest.Signer // signs tokens the gateway accepts, unless cfg.Keys said otherwise
	gw     *gateway.Gateway
}

// newGateway starts a gateway with the given routes. cfg.Source and
// cfg.Logger are filled in, and cfg.Keys, when nil, with the keys of the
// gateway's signer.
func newGateway(t testing.TB, cfg gateway.Config, routes ...gateway.Route) *testGateway {
	t.Helper()
	tg := &testGateway{routes: &gateway.Routes{}, logs: &testlog.Buffer{}, signer: authtest.NewSigner(t)}
	tg.routes.Store(mustTable(t, routes...))
	cfg.Source = tg.routes
	cfg.Logger = log.NewLogfmtLogger(tg.logs)
	if cfg.Keys == nil {
		cfg.Keys = tg.signer.KeySource()
	}
	if cfg.Issuer == "" {
		cfg.Issuer, cfg.Audience = authtest.Issuer, authtest.Audience
	}
	if cfg.ProbeInterval == 0 {
		// Off unless a test is about them: probes would add requests to
		// the upstreams' counts and skip the dead instances whose
		// handling by the forwarder a test means to see.
		cfg.ProbeInterval = -1
	}
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	tg.gw = g
	tg.Server = httptest.NewServer(g)
	t.Cleanup(func() {
		tg.Close()
		g.Stop()
		if t.Failed() || os.Getenv("GATEWAY_TEST_LOGS") != "" {
			t.Logf("gateway logs:\n%s", tg.logs)
		}
	})
	return tg
}

// do sends a request through the gateway and returns the response with its
// body read.
func (tg *testGateway) do(t testing.TB, method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, tg.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := tg.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

func (tg *testGateway) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	return tg.do(t, http.MethodGet, path, nil, nil)
}

// bearer returns an Authorization header carrying token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// allPublic returns public routes that open every path under prefix to the
// usual methods, for tests of the proxy that are not about authentication.
func allPublic(t testing.TB, prefix string) gateway.PublicRoutes {
	t.Helper()
	var entries []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		entries = append(entries, m+" "+prefix)
	}
	return mustPublic(t, strings.Join(entries, ","))
}

// mustPublic parses a public_routes value that must be well-formed.
func mustPublic(t testing.TB, value string) gateway.PublicRoutes {
	t.Helper()
	p, problems := gateway.ParsePublicRoutes(value)
	if len(problems) > 0 {
		t.Fatalf("ParsePublicRoutes(%q): %v", value, problems)
	}
	return p
}

// wantProblem checks that resp is a problem document of the given status and
// kind, and returns it.
func wantProblem(t testing.TB, resp *http.Response, body string, status int, kind string) httpx.Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, httpx.ProblemContentType)
	}
	var p httpx.Problem
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Kind != kind || p.Status != status {
		t.Errorf("problem kind/status = %s/%d, want %s/%d", p.Kind, p.Status, kind, status)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Errorf("problem request_id = %q, response X-Request-ID = %q; want equal and set", p.RequestID, resp.Header.Get("X-Request-ID"))
	}
	return p
}
