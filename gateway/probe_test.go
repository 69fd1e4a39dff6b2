package gateway_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// Bounds of the hung-instance tests: two failed probes at the default
// interval and timeout take 400-600 ms; the margin is for -race and a busy
// machine.
const (
	detectWithin = 2 * time.Second
	fastFail     = 100 * time.Millisecond
)

// stoppable is an instance that can be frozen like a process under
// SIGSTOP: while stopped, every request, its /healthz included, waits
// until it is resumed (or the gateway gives up on it).
type stoppable struct {
	*httptest.Server
	id      string
	mu      sync.Mutex
	resumed chan struct{} // nil while running
}

func newStoppable(t *testing.T, id string, h http.HandlerFunc) *stoppable {
	t.Helper()
	s := &stoppable{id: id}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		resumed := s.resumed
		s.mu.Unlock()
		if resumed != nil {
			select {
			case <-resumed:
			case <-r.Context().Done():
				return
			}
		}
		if r.URL.Path == "/healthz" {
			io.WriteString(w, `{"status":"ok"}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(s.resume) // first: Close waits for the requests held

	return s
}

func (s *stoppable) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resumed == nil {
		s.resumed = make(chan struct{})
	}
}

func (s *stoppable) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resumed != nil {
		close(s.resumed)
		s.resumed = nil
	}
}

func (s *stoppable) instance(service string) consul.Instance {
	return instanceAt(s.id, service, s.Listener.Addr().String())
}

// silentInstance returns an instance whose port accepts connections and
// never reads from them: what the kernel does for a stopped process.
func silentInstance(t *testing.T, id, service string) consul.Instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return instanceAt(id, service, ln.Addr().String())
}

// timed sends a request with its own client (safe off the test's
// goroutine) and returns its status, Retry-After, Cache-Status and duration.
type timedResult struct {
	status                 int
	retryAfter, cacheState string
	warning, body          string
	took                   time.Duration
	err                    error
}

func timed(tg *testGateway, method, path, token string) timedResult {
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader(`{"stock":1}`)
	}
	req, _ := http.NewRequest(method, tg.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := tg.Client().Do(req)
	if err != nil {
		return timedResult{err: err, took: time.Since(start)}
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return timedResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		cacheState: resp.Header.Get("Cache-Status"), warning: resp.Header.Get("Warning"), body: string(b), took: time.Since(start)}
}

// TestProbeStoppedInstance stops the only instance of a catalog: a write
// already waiting on it gets its 503 when the instance is found
// unresponsive, not at the end of the upstream timeout; then reads answer
// from the cache marked as stale and writes get a fast 503, until the
// instance answers again.
func TestProbeStoppedInstance(t *testing.T) {
	cat := &catalog{cacheControl: sharedCacheControl}
	up := newStoppable(t, "p1", cat.handler)
	cache, err := gateway.NewCache(gateway.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cache.SetLive(true)
	svc := serviceName(t)
	tg := newGateway(t, gateway.Config{Cache: cache, ProbeInterval: gateway.DefaultProbeInterval, UpstreamTimeout: 10 * time.Second},
		gateway.Route{Prefix: "/api/v1/products", Service: svc, Instances: []consul.Instance{up.instance(svc)},
			Public: mustPublic(t, "GET /api/v1/products")})
	token := tg.signer.Token("admin")
	const path = "/api/v1/products/42"
	if r := timed(tg, http.MethodGet, path, ""); r.status != http.StatusOK {
		t.Fatalf("GET before the stop: %d %v", r.status, r.err)
	}

	up.stop()
	stopped := time.Now()
	inflight := make(chan timedResult, 1)
	go func() { inflight <- timed(tg, http.MethodPatch, path, token) }()

	// Reads answer from the cache all along; marked as stale with the
	// service unavailable once the instance is found unresponsive.
	var detected time.Duration
	for detected == 0 {
		r := timed(tg, http.MethodGet, path, "")
		if r.status != http.StatusOK || r.body != "v0" || !strings.Contains(r.cacheState, "hit") {
			t.Fatalf("GET with the instance stopped: %d %q Cache-Status %q %v, want the cached answer", r.status, r.body, r.cacheState, r.err)
		}
		if strings.Contains(r.cacheState, "detail=stale-service-unavailable") {
			detected = time.Since(stopped)
			if !strings.HasPrefix(r.warning, "110") {
				t.Errorf("stale answer with Warning %q, want 110", r.warning)
			}
		}
		if time.Since(stopped) > detectWithin {
			t.Fatalf("the instance was not found unresponsive within %v", detectWithin)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("found unresponsive %v after the stop", detected)

	select {
	case r := <-inflight:
		if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
			t.Errorf("PATCH in flight at the stop: %d (Retry-After %q) %v, want 503 with Retry-After", r.status, r.retryAfter, r.err)
		}
		if r.took > detectWithin {
			t.Errorf("PATCH in flight at the stop took %v, want its 503 within %v", r.took, detectWithin)
		}
	case <-time.After(detectWithin):
		t.Fatal("the PATCH in flight at the stop was not answered once the instance was found unresponsive")
	}
	for range 3 {
		r := timed(tg, http.MethodPatch, path, token)
		if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
			t.Fatalf("PATCH with the instance unresponsive: %d (Retry-After %q) %v, want 503 with Retry-After", r.status, r.retryAfter, r.err)
		}
		if r.took > fastFail {
			t.Errorf("PATCH with the instance unresponsive took %v, want < %v", r.took, fastFail)
		}
	}

	up.resume()
	deadline := time.Now().Add(detectWithin)
	for {
		r := timed(tg, http.MethodPatch, path, token)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PATCH %v after the instance resumed: %d, want 200", detectWithin, r.status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lines := tg.logs.Lines("instance unresponsive; skipping it"); len(lines) != 1 {
		t.Errorf("got %d unresponsive log lines, want 1: %q", len(lines), lines)
	}
	if lines := tg.logs.Lines("back in rotation", "proof=probe"); len(lines) != 1 {
		t.Errorf("got %d back-in-rotation log lines, want 1: %q", len(lines), lines)
	}
}

// TestProbeSilentInstance routes to two instances, one of which accepts
// connections and never reads them: an idempotent read caught on it is
// retried on the other once it is found unresponsive, and after that the
// picker passes it over.
func TestProbeSilentInstance(t *testing.T) {
	svc := serviceName(t)
	good := newUpstream(t, svc+"-good", nil)
	silent := silentInstance(t, svc+"-silent", svc)
	tg := newGateway(t, gateway.Config{ProbeInterval: gateway.DefaultProbeInterval, UpstreamTimeout: 10 * time.Second},
		gateway.Route{Prefix: "/api", Service: svc, Instances: []consul.Instance{silent, good.instance(svc)}, Public: allPublic(t, "/api")})

	// Round robin sends one of two to the silent instance.
	for i := range 2 {
		r := timed(tg, http.MethodGet, "/api/x", "")
		if r.status != http.StatusOK || r.body != good.id {
			t.Fatalf("GET %d: %d %q %v, want the good instance's answer", i, r.status, r.body, r.err)
		}
		if r.took > detectWithin {
			t.Errorf("GET %d took %v, want it retried within %v", i, r.took, detectWithin)
		}
	}
	for i := range 20 {
		r := timed(tg, http.MethodPost, "/api/x", "")
		if r.status != http.StatusOK || r.body != good.id {
			t.Fatalf("POST %d: %d %q %v, want the good instance's answer", i, r.status, r.body, r.err)
		}
		if r.took > fastFail {
			t.Errorf("POST %d took %v, want < %v", i, r.took, fastFail)
		}
	}
}

// TestProbeBusyInstanceStaysInRotation keeps an instance whose probes time
// out (its /healthz queues behind its work) busy answering requests: it is
// never taken for unresponsive.
func TestProbeBusyInstanceStaysInRotation(t *testing.T) {
	svc := serviceName(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			time.Sleep(300 * time.Millisecond) // three times the probe timeout
		}
		time.Sleep(time.Millisecond)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	tg := newGateway(t, gateway.Config{ProbeInterval: gateway.DefaultProbeInterval},
		gateway.Route{Prefix: "/api", Service: svc, Instances: []consul.Instance{instanceAt(svc+"-1", svc, up.Listener.Addr().String())},
			Public: allPublic(t, "/api")})

	var failed atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(1500 * time.Millisecond)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if r := timed(tg, http.MethodPost, "/api/x", ""); r.status != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d requests to a busy instance failed, want none", n)
	}
	if lines := tg.logs.Lines("instance unresponsive"); len(lines) > 0 {
		t.Errorf("a busy instance was taken for unresponsive: %q", lines)
	}
}

// TestProbeRefusedConnection routes to an instance whose port refuses
// connections, a process that is gone: one failed probe is enough, and then
// requests go to the other instance without a failed attempt first.
func TestProbeRefusedConnection(t *testing.T) {
	svc := serviceName(t)
	good := newUpstream(t, svc+"-good", nil)
	tg := newGateway(t, gateway.Config{ProbeInterval: gateway.DefaultProbeInterval},
		gateway.Route{Prefix: "/api", Service: svc, Instances: []consul.Instance{deadInstance(t, svc+"-dead", svc), good.instance(svc)},
			Public: allPublic(t, "/api")})
	deadline := time.Now().Add(detectWithin)
	for len(tg.logs.Lines("instance unresponsive", "failed_probes=1", "connection refused")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the refused instance was not found unresponsive within %v", detectWithin)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 10 {
		if r := timed(tg, http.MethodPost, "/api/x", ""); r.status != http.StatusOK || r.body != good.id {
			t.Fatalf("POST %d: %d %q %v, want the good instance's answer", i, r.status, r.body, r.err)
		}
	}
	if lines := tg.logs.Lines("retrying on another instance"); len(lines) > 0 {
		t.Errorf("requests were sent to the refused instance after it was found: %q", lines)
	}
}
