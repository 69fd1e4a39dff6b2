package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// seen is what an upstream reports back about the request it received.
type seen struct {
	Method, Path, RawQuery, Host, Body string
	Header                             http.Header
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream", "yes")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, string(b), r.Header})
}

func TestProxyForwardsRequestAndResponse(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/products", Public: allPublic(t, "/api/v1/products"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	header := http.Header{
		"Authorization":   {"Bearer secret-token"},
		"Connection":      {"X-Hop"},
		"X-Hop":           {"dropped"},
		"Keep-Alive":      {"timeout=5"},
		"X-Forwarded-For": {"6.6.6.6"},
		"X-Custom":        {"kept"},
	}
	resp, body := gw.do(t, http.MethodPost, "/api/v1/products/42/images?size=big&x=%2F", strings.NewReader(`{"name":"lamp"}`), header)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, want 201 (body %s)", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Upstream"); got != "yes" {
		t.Errorf("response header X-Upstream = %q, want the upstream's", got)
	}
	var got seen
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("upstream body %q: %v", body, err)
	}
	checks := []struct{ what, got, want string }{
		{"method", got.Method, http.MethodPost},
		{"path", got.Path, "/api/v1/products/42/images"},
		{"query", got.RawQuery, "size=big&x=%2F"},
		{"body", got.Body, `{"name":"lamp"}`},
		{"Host", got.Host, up.Listener.Addr().String()},
		{"Authorization", got.Header.Get("Authorization"), "Bearer secret-token"},
		{"X-Custom", got.Header.Get("X-Custom"), "kept"},
		{"X-Hop", got.Header.Get("X-Hop"), ""},
		{"Keep-Alive", got.Header.Get("Keep-Alive"), ""},
		{"X-Forwarded-For", strings.Join(got.Header.Values("X-Forwarded-For"), ","), "127.0.0.1"},
		{"X-Forwarded-Proto", got.Header.Get("X-Forwarded-Proto"), "http"},
		{"X-Forwarded-Host", got.Header.Get("X-Forwarded-Host"), gw.Listener.Addr().String()},
		{"X-Request-ID", got.Header.Get("X-Request-ID"), resp.Header.Get("X-Request-ID")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("upstream saw %s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestProxyTrustForwardedFor(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	gw := newGateway(t, gateway.Config{TrustForwardedFor: true, RateLimit: 1, RateBurst: 1},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	// Behind a trusted proxy, each forwarded client has its own bucket and
	// the chain is extended rather than replaced.
	for _, client := range []string{"10.0.0.1", "10.0.0.2"} {
		resp, body := gw.do(t, http.MethodGet, "/api", nil, http.Header{"X-Forwarded-For": {"1.2.3.4, " + client}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("client %s: status = %d, want 201 (body %s)", client, resp.StatusCode, body)
		}
		var got seen
		json.Unmarshal([]byte(body), &got)
		if xff, want := got.Header.Get("X-Forwarded-For"), "1.2.3.4, "+client+", 127.0.0.1"; xff != want {
			t.Errorf("upstream X-Forwarded-For = %q, want %q", xff, want)
		}
	}
	resp, body := gw.do(t, http.MethodGet, "/api", nil, http.Header{"X-Forwarded-For": {"10.0.0.1"}})
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
}

func TestProxyPassesUpstreamErrorsThrough(t *testing.T) {
	svc := serviceName(t)
	const problem = `{"type":"urn:kitshop:problem:not_found","title":"Not Found","status":404,"detail":"product not found","kind":"not_found","request_id":"upstream-id"}`
	up := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, problem)
	})
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/products", Public: allPublic(t, "/api/v1/products"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	resp, body := gw.get(t, "/api/v1/products/nope")
	if resp.StatusCode != http.StatusNotFound || body != problem {
		t.Errorf("got %d %s, want 404 with the upstream's body unchanged", resp.StatusCode, body)
	}
	if ids := resp.Header.Values("X-Request-ID"); len(ids) != 1 {
		t.Errorf("X-Request-ID values = %q, want exactly one", ids)
	}
}

func TestProxyRoundRobin(t *testing.T) {
	svc := serviceName(t)
	ups := []*upstream{newUpstream(t, svc+"-a", nil), newUpstream(t, svc+"-b", nil), newUpstream(t, svc+"-c", nil)}
	var instances []consul.Instance
	for _, u := range ups {
		instances = append(instances, u.instance(svc))
	}
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: instances})

	for range 30 {
		if resp, body := gw.get(t, "/api/x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, body)
		}
	}
	for _, u := range ups {
		if got := u.hits.Load(); got != 10 {
			t.Errorf("instance %s got %d of 30 requests, want 10", u.id, got)
		}
	}
}

// TestProxyRetriesRefusedConnection: a request that could not even connect
// never reached the instance, so it is retried on another whatever its
// method.
func TestProxyRetriesRefusedConnection(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			svc := serviceName(t)
			live := newUpstream(t, svc+"-live", echo)
			dead := deadInstance(t, svc+"-dead", svc)
			// A fresh gateway starts its rotation at the first instance, so
			// every other request tries the dead one first.
			gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc,
				Instances: []consul.Instance{dead, live.instance(svc)}})

			for i := range 4 {
				resp, body := gw.do(t, method, "/api/items", strings.NewReader(`{"n":1}`), nil)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("request %d: status = %d, want 201 from the live instance (body %s)", i, resp.StatusCode, body)
				}
				var got seen
				json.Unmarshal([]byte(body), &got)
				if got.Body != `{"n":1}` {
					t.Errorf("request %d: live instance got body %q, want it resent whole", i, got.Body)
				}
			}
			if got := live.hits.Load(); got != 4 {
				t.Errorf("live instance got %d requests, want 4", got)
			}
			gw.logs.Wait(t, logWait, "attempts=2", "instance="+live.id, "status=201")
		})
	}
}

// TestProxyRetryRules: once the instance has received a request, only
// idempotent methods are retried, and only after a transport error, a
// timeout, or a 502/503.
func TestProxyRetryRules(t *testing.T) {
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	tests := []struct {
		name        string
		method      string
		first       http.HandlerFunc // the instance tried first
		wantStatus  int
		wantRetry   bool
		wantProblem bool // the gateway answers, not an instance
	}{
		{"GET after 503", http.MethodGet, status(http.StatusServiceUnavailable), http.StatusOK, true, false},
		{"GET after 502", http.MethodGet, status(http.StatusBadGateway), http.StatusOK, true, false},
		{"PUT after 503", http.MethodPut, status(http.StatusServiceUnavailable), http.StatusOK, true, false},
		{"DELETE after hang-up", http.MethodDelete, hangUp, http.StatusOK, true, false},
		{"GET after hang-up", http.MethodGet, hangUp, http.StatusOK, true, false},
		{"GET after 500", http.MethodGet, status(http.StatusInternalServerError), http.StatusInternalServerError, false, false},
		{"GET after 404", http.MethodGet, status(http.StatusNotFound), http.StatusNotFound, false, false},
		{"POST after 503", http.MethodPost, status(http.StatusServiceUnavailable), http.StatusServiceUnavailable, false, false},
		{"POST after 502", http.MethodPost, status(http.StatusBadGateway), http.StatusBadGateway, false, false},
		{"POST after hang-up", http.MethodPost, hangUp, http.StatusServiceUnavailable, false, true},
		{"PATCH after hang-up", http.MethodPatch, hangUp, http.StatusServiceUnavailable, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := serviceName(t)
			first := newUpstream(t, svc+"-1", tt.first)
			second := newUpstream(t, svc+"-2", nil)
			gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc,
				Instances: []consul.Instance{first.instance(svc), second.instance(svc)}})

			resp, body := gw.do(t, tt.method, "/api/orders/1", strings.NewReader(`{}`), nil)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if got := first.hits.Load(); got != 1 {
				t.Errorf("first instance got %d requests, want 1", got)
			}
			wantSecond := int64(0)
			if tt.wantRetry {
				wantSecond = 1
			}
			if got := second.hits.Load(); got != wantSecond {
				t.Errorf("second instance got %d requests, want %d", got, wantSecond)
			}
			if tt.wantProblem {
				wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
			}
		})
	}
}

func TestProxyRetriesOnlyOnce(t *testing.T) {
	svc := serviceName(t)
	var ups []*upstream
	var instances []consul.Instance
	for i := range 3 {
		u := newUpstream(t, fmt.Sprintf("%s-%d", svc, i), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		ups = append(ups, u)
		instances = append(instances, u.instance(svc))
	}
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: instances})

	resp, body := gw.get(t, "/api")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want the second instance's 503 (body %s)", resp.StatusCode, body)
	}
	total := ups[0].hits.Load() + ups[1].hits.Load() + ups[2].hits.Load()
	if total != 2 {
		t.Errorf("instances got %d requests in all, want 2 (one retry)", total)
	}
}

func TestProxyUpstreamTimeout(t *testing.T) {
	svc := serviceName(t)
	slow := newUpstream(t, svc+"-slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	gw := newGateway(t, gateway.Config{UpstreamTimeout: 100 * time.Millisecond},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{slow.instance(svc)}})

	start := time.Now()
	resp, body := gw.get(t, "/api/slow")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("request took %v, want it cut at the upstream timeout", took)
	}
	p := wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	if p.Detail != "upstream timed out" {
		t.Errorf("detail = %q, want %q", p.Detail, "upstream timed out")
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After header")
	}
}

// TestProxyTimeoutCoversSlowBody: the timeout covers the whole response,
// not just its headers.
func TestProxyTimeoutCoversSlowBody(t *testing.T) {
	svc := serviceName(t)
	slow := newUpstream(t, svc+"-slow", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	gw := newGateway(t, gateway.Config{UpstreamTimeout: 200 * time.Millisecond},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{slow.instance(svc)}})

	start := time.Now()
	resp, err := gw.Client().Get(gw.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if err == nil {
		t.Error("reading the body succeeded, want it cut off")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("request took %v, want it cut at the upstream timeout", took)
	}
	gw.logs.Wait(t, logWait, "aborted=true")
}
