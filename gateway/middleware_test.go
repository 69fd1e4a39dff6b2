package gateway_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestRateLimitPerClient(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{RateLimit: 0.5, RateBurst: 2},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	for i := range 2 {
		if resp, body := gw.get(t, "/api"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: status = %d (body %s)", i, resp.StatusCode, body)
		}
	}
	resp, body := gw.get(t, "/api")
	p := wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	if p.Detail != "too many requests" {
		t.Errorf("detail = %q", p.Detail)
	}
	// One token per 2 s, and the bucket was just emptied.
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if got := up.hits.Load(); got != 2 {
		t.Errorf("upstream got %d requests, want the 2 within the limit", got)
	}

	// A spoofed X-Forwarded-For does not buy a fresh bucket.
	resp, body = gw.do(t, http.MethodGet, "/api", nil, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	gw.logs.Wait(t, logWait, "status=429", "client=127.0.0.1")
}

// An IPv6 client owns a whole /64: every address in it shares one bucket.
func TestRateLimitPerIPv6Prefix(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{RateLimit: 0.5, RateBurst: 2, TrustForwardedFor: true},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if resp, body := gw.do(t, http.MethodGet, "/api", nil, from(ip)); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: status = %d (body %s)", i, resp.StatusCode, body)
		}
	}
	resp, body := gw.do(t, http.MethodGet, "/api", nil, from("2001:db8:1:2:ffff::3"))
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	// The neighbouring /64 is another client.
	if resp, body := gw.do(t, http.MethodGet, "/api", nil, from("2001:db8:1:3::1")); resp.StatusCode != http.StatusOK {
		t.Errorf("another /64: status = %d (body %s), want 200", resp.StatusCode, body)
	}
}

func TestRateLimitDisabled(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})
	for i := range 50 {
		if resp, _ := gw.get(t, "/api"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status = %d, want no limit", i, resp.StatusCode)
		}
	}
}

func TestRequestID(t *testing.T) {
	svc := serviceName(t)
	saw := make(chan string, 1)
	up := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) {
		saw <- r.Header.Get("X-Request-ID")
	})
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)

	tests := []struct {
		name     string
		incoming string
		want     string // "" means a generated id
	}{
		{"generated", "", ""},
		{"propagated", "req-abc.123:x_y", "req-abc.123:x_y"},
		{"invalid replaced", "bad id with spaces", ""},
		{"too long replaced", strings.Repeat("a", 200), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			if tt.incoming != "" {
				header.Set("X-Request-ID", tt.incoming)
			}
			resp, _ := gw.do(t, http.MethodGet, "/api", nil, header)
			ids := resp.Header.Values("X-Request-ID")
			if len(ids) != 1 {
				t.Fatalf("response X-Request-ID = %q, want one value", ids)
			}
			got := ids[0]
			if tt.want != "" && got != tt.want {
				t.Errorf("echoed id = %q, want %q", got, tt.want)
			}
			if tt.want == "" && !generated.MatchString(got) {
				t.Errorf("echoed id = %q, want a generated one", got)
			}
			if id := <-saw; id != got {
				t.Errorf("upstream saw id %q, want %q", id, got)
			}
			gw.logs.Wait(t, logWait, "request_id="+got)
		})
	}

	// Gateway-made errors carry the id too.
	resp, body := gw.do(t, http.MethodGet, "/nowhere", nil, http.Header{"X-Request-ID": {"trace-1"}})
	if p := wantProblem(t, resp, body, http.StatusNotFound, "not_found"); p.RequestID != "trace-1" {
		t.Errorf("problem request_id = %q, want trace-1", p.RequestID)
	}
}

func TestAccessLog(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("hello"))
	})
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/orders", Public: allPublic(t, "/api/v1/orders"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	gw.do(t, http.MethodPost, "/api/v1/orders/9?token=query-secret", strings.NewReader(`{"card":"body-secret"}`),
		http.Header{"Authorization": {"Bearer header-secret"}, "X-Request-ID": {"log-test"}})

	line := gw.logs.Wait(t, logWait, "request_id=log-test")
	for _, want := range []string{
		"msg=request", "method=POST", "path=/api/v1/orders/9", "route=/api/v1/orders", "service=" + svc,
		"instance=" + up.id, "attempts=1", "status=202", "bytes=5", "took=", "client=127.0.0.1",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line lacks %q:\n%s", want, line)
		}
	}
	for _, secret := range []string{"query-secret", "body-secret", "header-secret"} {
		if strings.Contains(gw.logs.String(), secret) {
			t.Errorf("logs contain %q:\n%s", secret, gw.logs.String())
		}
	}
}

func TestAccessLogRejected(t *testing.T) {
	gw := newGateway(t, gateway.Config{})
	resp, _ := gw.do(t, http.MethodGet, "/nope", nil, http.Header{"X-Request-ID": {"rejected-1"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status = %d, want 404", resp.StatusCode)
	}
	line := gw.logs.Wait(t, logWait, "request_id=rejected-1", "msg=request")
	if !strings.Contains(line, "status=404") || !strings.Contains(line, `route= `) {
		t.Errorf("access log line = %s, want status 404 and no route", line)
	}
}
