package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestProxyBreakerOpensOn5xx(t *testing.T) {
	svc := serviceName(t)
	failing := newUpstream(t, svc+"-failing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	healthy := newUpstream(t, svc+"-healthy", nil)
	gw := newGateway(t, gateway.Config{Breaker: breaker.Settings{VolumeThreshold: 4, ErrorPercent: 50, SleepWindow: time.Minute}},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{failing.instance(svc), healthy.instance(svc)}})

	// Hystrix updates its statistics asynchronously, so the circuit opens
	// a little after the failures that justify it: wait until a run of
	// requests all go to the healthy instance.
	deadline := time.Now().Add(5 * time.Second)
	streak := 0
	for streak < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("the failing instance's breaker did not open; it got %d requests", failing.hits.Load())
		}
		resp, _ := gw.get(t, "/api")
		if resp.StatusCode == http.StatusOK {
			streak++
		} else {
			streak = 0
			time.Sleep(10 * time.Millisecond)
		}
	}
	before := failing.hits.Load()
	for range 20 {
		if resp, body := gw.get(t, "/api"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200 from the healthy instance (body %s)", resp.StatusCode, body)
		}
	}
	if got := failing.hits.Load() - before; got != 0 {
		t.Errorf("instance with an open breaker got %d more requests, want 0", got)
	}
}

func TestProxyBreakerIgnoresAnswersThatAreNotFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
	}{
		{"4xx", http.StatusNotFound, nil},
		// An instance whose database is out says so at once, with a retry
		// hint; it is not the instance that failed.
		{"503 with Retry-After", http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := serviceName(t)
			picky := newUpstream(t, svc+"-picky", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.Header().Set("X-Answered-By", "instance")
				w.WriteHeader(tt.status)
			})
			gw := newGateway(t, gateway.Config{Breaker: breaker.Settings{VolumeThreshold: 4, ErrorPercent: 50, SleepWindow: time.Minute}},
				gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{picky.instance(svc)}})

			for i := range 40 {
				resp, body := gw.get(t, "/api")
				if resp.StatusCode != tt.status || resp.Header.Get("X-Answered-By") != "instance" {
					t.Fatalf("request %d: status = %d, want the instance's %d every time (body %s)", i, resp.StatusCode, tt.status, body)
				}
				if i%10 == 9 {
					time.Sleep(20 * time.Millisecond) // give hystrix's statistics time to catch up
				}
			}
		})
	}
}

func TestProxyAllBreakersOpen(t *testing.T) {
	svc := serviceName(t)
	failing := newUpstream(t, svc+"-failing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	gw := newGateway(t, gateway.Config{Breaker: breaker.Settings{VolumeThreshold: 4, ErrorPercent: 50, SleepWindow: time.Minute}},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{failing.instance(svc)}})

	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := gw.get(t, "/api")
		if resp.StatusCode == http.StatusServiceUnavailable {
			wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
			if got := resp.Header.Get("Retry-After"); got != "5" {
				t.Errorf("Retry-After = %q, want 5", got)
			}
			break
		}
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("status = %d, want the instance's 500 until the breaker opens", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker never opened")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProxyBreakerProbesAfterSleepWindow: an instance whose breaker opened
// gets traffic again once it has recovered, even while another instance
// takes all the load.
func TestProxyBreakerProbesAfterSleepWindow(t *testing.T) {
	svc := serviceName(t)
	var recovered atomic.Bool
	flaky := newUpstream(t, svc+"-flaky", func(w http.ResponseWriter, r *http.Request) {
		if !recovered.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	healthy := newUpstream(t, svc+"-healthy", nil)
	gw := newGateway(t, gateway.Config{Breaker: breaker.Settings{VolumeThreshold: 4, ErrorPercent: 50, SleepWindow: 300 * time.Millisecond}},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{flaky.instance(svc), healthy.instance(svc)}})

	deadline := time.Now().Add(5 * time.Second)
	for streak := 0; streak < 10; {
		if time.Now().After(deadline) {
			t.Fatal("breaker did not open")
		}
		if resp, _ := gw.get(t, "/api"); resp.StatusCode == http.StatusOK {
			streak++
		} else {
			streak = 0
		}
	}
	recovered.Store(true)
	before := flaky.hits.Load()
	for time.Now().Before(deadline) && flaky.hits.Load()-before < 5 {
		if resp, body := gw.get(t, "/api"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := flaky.hits.Load() - before; got < 5 {
		t.Errorf("recovered instance got %d requests after its breaker opened, want it back in rotation", got)
	}
}

func TestProxyNoInstances(t *testing.T) {
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/orders", Public: allPublic(t, "/api/v1/orders"), Service: serviceName(t)})
	resp, body := gw.get(t, "/api/v1/orders/7")
	wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	if got := resp.Header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After = %q, want 5", got)
	}
}

func TestProxyAllInstancesDead(t *testing.T) {
	svc := serviceName(t)
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc,
		Instances: []consul.Instance{deadInstance(t, svc+"-1", svc), deadInstance(t, svc+"-2", svc)}})
	resp, body := gw.do(t, http.MethodPost, "/api", strings.NewReader("{}"), nil)
	wantProblem(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	gw.logs.Wait(t, logWait, "attempts=2", "status=503")
}

func TestProxyUnknownPrefix(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/products", Public: allPublic(t, "/api/v1/products"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})
	for _, path := range []string{"/", "/api/v1/productsfoo", "/api/v1/orders", "/favicon.ico"} {
		t.Run(path, func(t *testing.T) {
			resp, body := gw.get(t, path)
			wantProblem(t, resp, body, http.StatusNotFound, "not_found")
		})
	}
	if got := up.hits.Load(); got != 0 {
		t.Errorf("upstream got %d requests for paths outside its prefix", got)
	}
}

func TestProxyRejectsUncleanPaths(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/products", Public: allPublic(t, "/api/v1/products"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})
	for _, path := range []string{"/api/v1/products/../../metrics", "/api/v1/products/%2e%2e/admin", "/api/v1/products//x", "/api/v1/products/./x"} {
		t.Run(path, func(t *testing.T) {
			resp, body := gw.get(t, path)
			wantProblem(t, resp, body, http.StatusBadRequest, "invalid")
		})
	}
	if got := up.hits.Load(); got != 0 {
		t.Errorf("upstream got %d requests with unclean paths", got)
	}
}

func TestProxyBodyLimits(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", echo)
	gw := newGateway(t, gateway.Config{MaxBodyBytes: 2048, RetryBodyBytes: 512},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
	}{
		{"small", 100, false, http.StatusCreated},
		{"small chunked", 100, true, http.StatusCreated},
		{"streamed", 1500, false, http.StatusCreated},
		{"streamed chunked", 1500, true, http.StatusCreated},
		{"at the limit", 2048, false, http.StatusCreated},
		{"declared too large", 4096, false, http.StatusRequestEntityTooLarge},
		{"chunked too large", 4096, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := strings.Repeat("x", tt.size)
			var body io.Reader = strings.NewReader(payload)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			resp, respBody := gw.do(t, http.MethodPost, "/api/upload", body, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %.200s)", resp.StatusCode, tt.wantStatus, respBody)
			}
			if tt.wantStatus == http.StatusRequestEntityTooLarge {
				p := wantProblem(t, resp, respBody, http.StatusRequestEntityTooLarge, "invalid")
				if p.Detail != "request body too large" {
					t.Errorf("detail = %q, want %q", p.Detail, "request body too large")
				}
				return
			}
			var got seen
			json.Unmarshal([]byte(respBody), &got)
			if got.Body != payload {
				t.Errorf("upstream got %d bytes, want %d", len(got.Body), len(payload))
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     gateway.Config
		wantErr string
	}{
		{"no source", gateway.Config{}, "Source is required"},
		{"no keys", gateway.Config{Source: &gateway.Routes{}}, "Keys is required"},
		{"no issuer", gateway.Config{}, "Issuer and Config.Audience are required"},
		{"negative timeout", gateway.Config{UpstreamTimeout: -1}, "UpstreamTimeout"},
		{"negative rate", gateway.Config{RateLimit: -1}, "RateLimit"},
		{"negative user rate", gateway.Config{UserRateLimit: -1}, "UserRateLimit"},
		{"negative user burst", gateway.Config{UserRateLimit: 1, UserRateBurst: -1}, "UserRateBurst"},
		{"negative body", gateway.Config{MaxBodyBytes: -1}, "MaxBodyBytes"},
	}
	keys := authtest.NewSigner(t).KeySource()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no source" && tt.name != "no keys" {
				tt.cfg.Source, tt.cfg.Keys = &gateway.Routes{}, keys
			}
			if tt.name != "no issuer" {
				tt.cfg.Issuer, tt.cfg.Audience = authtest.Issuer, authtest.Audience
			}
			_, err := gateway.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}
