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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/kit/version"
	"github.com/kitshop/kitshop/user/userapi"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(settings) bool
		wantErr string
	}{
		{name: "defaults", want: func(s settings) bool {
			return s.httpAddr == ":8080" && s.consulAddr == "127.0.0.1:8500" && s.rateLimit == 100 && s.rateBurst == 200 &&
				s.upstreamTimeout == 10*time.Second && s.logFormat == "logfmt" && s.drainTimeout == 15*time.Second && !s.trustForwardedFor &&
				s.authService == "user" && s.issuer == userapi.Issuer && s.audience == userapi.Audience && s.userRateLimit == 50 && s.userRateBurst == 100 &&
				s.metricsAddr == "127.0.0.1:9180" && s.readTimeout == 10*time.Second && s.maxConnsPerClient == 1024 && len(s.routeOwners) == 0
		}},
		{name: "auth flags", args: []string{"-auth-service", "accounts", "-issuer", "me", "-audience", "you", "-user-rate-limit", "0", "-user-rate-burst", "3"},
			want: func(s settings) bool {
				return s.authService == "accounts" && s.issuer == "me" && s.audience == "you" && s.userRateLimit == 0 && s.userRateBurst == 3
			}},
		{name: "auth environment", env: map[string]string{"GATEWAY_AUTH_SERVICE": "accounts", "GATEWAY_USER_RATE_LIMIT": "7.5"},
			want: func(s settings) bool { return s.authService == "accounts" && s.userRateLimit == 7.5 }},
		{name: "flags", args: []string{"-http-addr", "127.0.0.1:0", "-rate-limit", "2.5", "-upstream-timeout", "3s", "-log-format", "json"},
			want: func(s settings) bool {
				return s.httpAddr == "127.0.0.1:0" && s.rateLimit == 2.5 && s.upstreamTimeout == 3*time.Second && s.logFormat == "json"
			}},
		{name: "environment", env: map[string]string{"GATEWAY_RATE_BURST": "7", "GATEWAY_CONSUL_ADDR": "consul:8500"},
			want: func(s settings) bool { return s.rateBurst == 7 && s.consulAddr == "consul:8500" }},
		{name: "flag beats environment", args: []string{"-rate-burst", "9"}, env: map[string]string{"GATEWAY_RATE_BURST": "7"},
			want: func(s settings) bool { return s.rateBurst == 9 }},
		{name: "rate limit off", args: []string{"-rate-limit", "0"}, want: func(s settings) bool { return s.rateLimit == 0 }},
		{name: "bad environment value", env: map[string]string{"GATEWAY_UPSTREAM_TIMEOUT": "soon"}, wantErr: "GATEWAY_UPSTREAM_TIMEOUT"},
		{name: "unknown flag", args: []string{"-verbose"}, wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "negative rate", args: []string{"-rate-limit", "-1"}, wantErr: "-rate-limit"},
		{name: "zero burst", args: []string{"-rate-burst", "0"}, wantErr: "-rate-burst"},
		{name: "zero timeout", args: []string{"-upstream-timeout", "0s"}, wantErr: "-upstream-timeout"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: "-log-format"},
		{name: "no consul", args: []string{"-consul-addr", ""}, wantErr: "-consul-addr"},
		{name: "no auth service", args: []string{"-auth-service", ""}, wantErr: "-auth-service"},
		{name: "bad auth service", args: []string{"-auth-service", "user service"}, wantErr: "-auth-service"},
		{name: "no issuer", env: map[string]string{"GATEWAY_ISSUER": ""}, wantErr: "-issuer"},
		{name: "no audience", args: []string{"-audience", ""}, wantErr: "-audience"},
		{name: "negative user rate", args: []string{"-user-rate-limit", "-2"}, wantErr: "-user-rate-limit"},
		{name: "zero user burst", args: []string{"-user-rate-burst", "0"}, wantErr: "-user-rate-burst"},
		{name: "limits and pins", args: []string{"-read-timeout", "2s", "-max-conns-per-client", "0", "-metrics-addr", ":9999",
			"-route-owners", "/api/v1/users=user,/api/v1/auth=user"},
			want: func(s settings) bool {
				return s.readTimeout == 2*time.Second && s.maxConnsPerClient == 0 && s.metricsAddr == ":9999" &&
					len(s.routeOwners) == 2 && s.routeOwners["/api/v1/auth"] == "user"
			}},
		{name: "bad route owners", args: []string{"-route-owners", "/api/v1/users"}, wantErr: "-route-owners"},
		{name: "no metrics address", args: []string{"-metrics-addr", ""}, wantErr: "-metrics-addr"},
		{name: "zero read timeout", args: []string{"-read-timeout", "0s"}, wantErr: "-read-timeout"},
		{name: "negative conns", args: []string{"-max-conns-per-client", "-1"}, wantErr: "-max-conns-per-client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := parse(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !tt.want(got) {
				t.Errorf("parse(%q) = %+v", tt.args, got)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "-upstream-timeout") || !strings.Contains(out.String(), "-auth-service") {
		t.Errorf("usage does not list the flags:\n%s", out.String())
	}
}

// TestRunVersion checks that -version prints the build to stdout and ends
// run without serving, even when other settings are wrong.
func TestRunVersion(t *testing.T) {
	t.Setenv("GATEWAY_RATE_BURST", "0") // invalid, and beside the point
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-version", "-http-addr", "256.0.0.1:1"}, &stdout, &stderr); err != nil {
		t.Fatalf("run -version = %v, want nil", err)
	}
	if want := "gateway " + version.Get().String() + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
}

// TestRun starts the real program against a real Consul: it becomes ready
// once it has the routes, routes a registered service by its prefix, lets
// requests to the service's public routes through without a token, checks
// tokens on the others against the keys of the -auth-service it finds in
// Consul, and shuts down when its context ends.
func TestRun(t *testing.T) {
	consulAddr := testenv.Consul(t).Addr()
	client, err := consul.NewClient(consulAddr)
	if err != nil {
		t.Fatal(err)
	}
	name := "cmdtest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	prefix := "/api/v1/" + name
	signer := authtest.NewSigner(t)
	signer.Issuer, signer.Audience = userapi.Issuer, userapi.Audience // the gateway's defaults
	register(t, client, consul.Registration{Name: name + "-user"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != auth.JWKSPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	}))
	register(t, client, consul.Registration{Name: name, ID: name + "-1", APIPrefix: prefix, Meta: map[string]string{"public_routes": "GET " + prefix + "/public"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello from "+r.URL.Path)
		}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-consul-addr", consulAddr, "-drain-timeout", "2s",
			"-auth-service", name + "-user"}, io.Discard, logs)
	}()
	addr := waitFor(t, logs, done, regexp.MustCompile(`msg=listening transport=http addr=(\S+)`))
	base := "http://" + addr
	internal := "http://" + waitFor(t, logs, done, regexp.MustCompile(`msg=listening transport=metrics addr=(\S+)`))

	if status, _, _ := get(t, base+"/healthz", ""); status != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", status)
	}
	eventually(t, "ready", func() bool { status, _, _ := get(t, base+"/readyz", ""); return status == http.StatusOK })
	eventually(t, "public route forwarded", func() bool {
		status, body, _ := get(t, base+prefix+"/public/42", "")
		return status == http.StatusOK && body == "hello from "+prefix+"/public/42"
	})
	status, _, header := get(t, base+prefix+"/42", "")
	if status != http.StatusUnauthorized || header.Get("WWW-Authenticate") == "" {
		t.Errorf("protected route without a token = %d (WWW-Authenticate %q), want 401 with a challenge", status, header.Get("WWW-Authenticate"))
	}
	token := signer.Token("user-1")
	eventually(t, "protected route forwarded with a token", func() bool {
		status, body, _ := get(t, base+prefix+"/42", token)
		return status == http.StatusOK && body == "hello from "+prefix+"/42"
	})
	if status, _, _ := get(t, base+"/api/v1/nothing-here", ""); status != http.StatusNotFound {
		t.Errorf("unknown prefix = %d, want 404", status)
	}

	// The requests above in the gateway's own metrics, by route prefix (the
	// raw paths are not labels), upstream service and status.
	route := func(code string) map[string]string {
		return map[string]string{"route": prefix, "upstream": name, "code": code}
	}
	waitMetric(t, internal, "kitshop_gateway_requests_total", route("200"), 2)
	waitMetric(t, internal, "kitshop_gateway_requests_total", route("401"), 1)
	waitMetric(t, internal, "kitshop_gateway_requests_total", map[string]string{"route": "unmatched", "upstream": "none", "code": "404"}, 1)
	got := metricstest.Scrape(t, internal+"/metrics")
	if n, _ := got.Count("kitshop_gateway_request_duration_seconds", map[string]string{"route": prefix, "upstream": name}); n < 3 {
		t.Errorf("latency observations of %s = %d, want >= 3", prefix, n)
	}
	if v, ok := got.Value("kitshop_breaker_open", map[string]string{"breaker": "gateway/" + name + "/" + name + "-1"}); !ok || v != 0 {
		t.Errorf("breaker of the instance: open = %v (present %v), want 0", v, ok)
	}
	if !got.Has("go_goroutines") {
		t.Error("metrics lack go_goroutines")
	}
	if strings.Contains(got.String(), prefix+"/42") {
		t.Error("a raw path made it into the labels")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("no shutdown logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token appears in the logs")
	}
}

// TestRunMetricsNotRoutable: /metrics is the gateway's own, on its
// internal -metrics-addr only: the public port answers it 404, a service
// announcing it as its prefix gets no route, neither to it nor below it,
// and a rejection by the per-client rate limit is counted.
func TestRunMetricsNotRoutable(t *testing.T) {
	consulAddr := testenv.Consul(t).Addr()
	client, err := consul.NewClient(consulAddr)
	if err != nil {
		t.Fatal(err)
	}
	name := "cmdtest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	register(t, client, consul.Registration{Name: name + "-rogue", APIPrefix: "/metrics,/api/v1/" + name,
		Meta: map[string]string{"public_routes": "GET /metrics,GET /api/v1/" + name}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "rogue") }))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-consul-addr", consulAddr, "-drain-timeout", "2s",
			"-rate-limit", "0.001", "-rate-burst", "3"}, io.Discard, logs)
	}()
	addr := waitFor(t, logs, done, regexp.MustCompile(`msg=listening transport=http addr=(\S+)`))
	base := "http://" + addr
	internal := "http://" + waitFor(t, logs, done, regexp.MustCompile(`msg=listening transport=metrics addr=(\S+)`))
	// The service's other prefix is routed: the announcement was read.
	// Readiness and scrapes are not requests through the gateway, so they
	// use none of the three requests the rate limit allows.
	eventually(t, "ready", func() bool { status, _, _ := get(t, base+"/readyz", ""); return status == http.StatusOK })
	eventually(t, "service routed", func() bool {
		got := metricstest.Scrape(t, internal+"/metrics")
		return strings.Contains(logs.String(), `msg="route added" prefix=/api/v1/`+name) && got.Has("go_goroutines")
	})

	for path, want := range map[string]int{"/metrics": http.StatusNotFound, "/metrics/x": http.StatusNotFound, "/api/v1/" + name: http.StatusOK} {
		if status, body, _ := get(t, base+path, ""); status != want || strings.Contains(body, "rogue") != (want == http.StatusOK) {
			t.Errorf("GET %s = %d %q, want %d", path, status, body, want)
		}
	}
	if status, body, _ := get(t, internal+"/metrics", ""); status != http.StatusOK || !strings.Contains(body, "kitshop_gateway_requests_total") {
		t.Errorf("GET /metrics on the internal address = %d, want the gateway's metrics:\n%s", status, body)
	}
	if status, _, _ := get(t, base+"/api/v1/"+name, ""); status != http.StatusTooManyRequests {
		t.Errorf("fourth request = %d, want 429", status)
	}
	waitMetric(t, internal, "kitshop_ratelimit_rejections_total", map[string]string{"limiter": "client"}, 1)
	waitMetric(t, internal, "kitshop_gateway_requests_total", map[string]string{"route": "/api/v1/" + name, "upstream": name + "-rogue", "code": "429"}, 1)
	if !strings.Contains(logs.String(), "ignoring invalid api prefix") {
		t.Errorf("the reserved prefix was not refused in the logs:\n%s", logs)
	}
}

// waitMetric waits until the series named name with labels add up to at
// least want on the gateway's /metrics at base (its internal address): a request is recorded once its
// handler has returned, which can be just after the client read the answer.
func waitMetric(t *testing.T, base, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := metricstest.Scrape(t, base+"/metrics")
		v, _ := got.Value(name, labels)
		if v >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want >= %v; metrics:\n%s", name, labels, v, want, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// register serves h (and /readyz) on a test server and registers it in
// Consul as reg describes, until the test ends.
func register(t *testing.T, client consul.Client, reg consul.Registration, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	reg.HTTPPort, _ = strconv.Atoi(port)
	reg.Address, reg.CheckInterval = "127.0.0.1", time.Second
	r := consul.NewRegistrar(client, reg, log.NewNopLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Register(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Deregister(context.Background()) })
}

// get sends a GET with token as bearer token, if not empty.
func get(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// waitFor waits until the logs match re and returns the first submatch,
// failing early if run returns.
func waitFor(t *testing.T, logs *testlog.Buffer, done <-chan error, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\nlogs:\n%s", err, logs)
		case <-deadline:
			t.Fatalf("no log line matching %s:\n%s", re, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

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

// TestRunCutsSlowBody: a client that sends its headers and a part of the
// body it announced, then nothing, loses its connection after -read-timeout,
// on a route and on the gateway's own paths alike.
func TestRunCutsSlowBody(t *testing.T) {
	consulAddr := testenv.Consul(t).Addr()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-consul-addr", consulAddr,
			"-drain-timeout", "1s", "-read-timeout", "300ms"}, io.Discard, logs)
	}()
	defer func() {
		cancel()
		<-done
	}()
	addr := waitFor(t, logs, done, regexp.MustCompile(`msg=listening transport=http addr=(\S+)`))
	for _, path := range []string{"/api/v1/users", "/healthz"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":\"a")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, c)
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("POST %s with a stalled body: connection still open after 5s, want it cut after 300ms", path)
		}
	}
}
