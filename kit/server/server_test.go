package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/server"
)

// recorder collects lifecycle events from the goroutines under test.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// probe returns the status of GET url, or -1 when the request fails (the
// server is not accepting).
func probe(url string) int {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

func grpcServing(t *testing.T, cc *grpc.ClientConn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "error: " + err.Error()
	}
	return resp.GetStatus().String()
}

// fakeRegistrar records what the outside world sees when Run calls it.
type fakeRegistrar struct {
	rec     *recorder
	baseURL string
	cc      *grpc.ClientConn
	t       *testing.T
	ready   chan struct{}
}

func (f *fakeRegistrar) Register(ctx context.Context) error {
	f.rec.add("register: healthz=%d readyz=%d", probe(f.baseURL+"/healthz"), probe(f.baseURL+"/readyz"))
	close(f.ready)
	return nil
}

func (f *fakeRegistrar) Deregister(ctx context.Context) error {
	f.rec.add("deregister: healthz=%d readyz=%d grpc=%s", probe(f.baseURL+"/healthz"), probe(f.baseURL+"/readyz"), grpcServing(f.t, f.cc))
	return nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestRunLifecycle(t *testing.T) {
	rec := &recorder{}
	var logs bytes.Buffer
	logger := log.NewLogfmtLogger(log.NewSyncWriter(&logs))
	httpLn, grpcLn := listen(t), listen(t)
	baseURL := "http://" + httpLn.Addr().String()

	cc, err := grpcx.Dial(grpcLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	slowStarted := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(slowStarted)
		time.Sleep(500 * time.Millisecond)
		rec.add("slow request done")
		io.WriteString(w, "finally")
	})
	reg := &fakeRegistrar{rec: rec, baseURL: baseURL, cc: cc, t: t, ready: make(chan struct{})}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(ctx, server.Config{
			Name:         "test",
			Logger:       logger,
			HTTPListener: httpLn,
			Handler:      mux,
			GRPCListener: grpcLn,
			GRPCServer:   grpcx.NewServer(logger),
			Health:       health.New(),
			Registrar:    reg,
			DrainTimeout: 5 * time.Second,
			Closers: []func(){
				func() { rec.add("closer 1: http=%d", probe(baseURL+"/healthz")) },
				func() { rec.add("closer 2") },
			},
		})
	}()

	select {
	case <-reg.ready:
	case err := <-ran:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Register not called within 5s")
	}

	// Serving: health endpoints, the handler, gRPC health, problems for the rest.
	checks := []struct {
		path string
		want int
	}{
		{"/healthz", 200}, {"/readyz", 200}, {"/hello", 200}, {"/nope", 404},
	}
	for _, c := range checks {
		if got := probe(baseURL + c.path); got != c.want {
			t.Errorf("GET %s = %d, want %d", c.path, got, c.want)
		}
	}
	if got, want := grpcServing(t, cc), "SERVING"; got != want {
		t.Errorf("gRPC health = %s, want %s", got, want)
	}

	// A slow request is in flight when shutdown starts; it must complete.
	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(baseURL + "/slow")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	<-slowStarted
	cancel()

	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	if r := <-slow; r.err != nil || r.status != 200 || r.body != "finally" {
		t.Errorf("in-flight request got %d %q (err %v), want 200 \"finally\"", r.status, r.body, r.err)
	}

	want := []string{
		"register: healthz=200 readyz=200",
		"deregister: healthz=200 readyz=503 grpc=NOT_SERVING",
		"slow request done",
		"closer 1: http=-1",
		"closer 2",
	}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, line := range []string{
		"msg=listening transport=http addr=" + httpLn.Addr().String(),
		"msg=listening transport=grpc addr=" + grpcLn.Addr().String(),
		"msg=deregistered", "msg=drained", "msg=stopped",
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, logs.String())
		}
	}
}

func TestRunDrainTimeoutCutsHangingRequests(t *testing.T) {
	ln := listen(t)
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	closed := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(ctx, server.Config{HTTPListener: ln, Handler: handler, DrainTimeout: 200 * time.Millisecond,
			Closers: []func(){func() { close(closed) }}})
	}()
	go http.Get("http://" + ln.Addr().String() + "/hang")
	<-started
	begin := time.Now()
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return: DrainTimeout not enforced")
	}
	if took := time.Since(begin); took < 200*time.Millisecond {
		t.Errorf("Run returned after %v, before the drain timeout", took)
	}
	select {
	case <-closed:
	default:
		t.Error("closer did not run")
	}
}

type countingRegistrar struct {
	mu                     sync.Mutex
	register, deregister   int
	registerBlocksUntilCtx bool
}

func (c *countingRegistrar) Register(ctx context.Context) error {
	c.mu.Lock()
	c.register++
	c.mu.Unlock()
	if c.registerBlocksUntilCtx {
		<-ctx.Done() // Consul never comes up
		return ctx.Err()
	}
	return nil
}

func (c *countingRegistrar) Deregister(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deregister++
	return nil
}

func TestRunServerFailureShutsDown(t *testing.T) {
	httpLn, grpcLn := listen(t), listen(t)
	reg := &countingRegistrar{registerBlocksUntilCtx: true}
	h := health.New()
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(context.Background(), server.Config{HTTPListener: httpLn, GRPCListener: grpcLn,
			GRPCServer: grpcx.NewServer(log.NewNopLogger()), Health: h, Registrar: reg})
	}()
	waitFor(t, func() bool { return probe("http://"+httpLn.Addr().String()+"/readyz") == 200 })

	httpLn.Close() // the HTTP server fails
	select {
	case err := <-ran:
		if err == nil || !strings.Contains(err.Error(), "http server") {
			t.Errorf("Run = %v, want the http server's failure", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the HTTP listener failed")
	}
	if h.Ready() {
		t.Error("still ready after shutdown")
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.register != 1 || reg.deregister != 1 {
		t.Errorf("Register called %d times, Deregister %d times; want 1 and 1", reg.register, reg.deregister)
	}
}

func TestRunGRPCOnly(t *testing.T) {
	grpcLn := listen(t)
	cc, err := grpcx.Dial(grpcLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(ctx, server.Config{GRPCListener: grpcLn, GRPCServer: grpcx.NewServer(log.NewNopLogger())})
	}()
	waitFor(t, func() bool { return grpcServing(t, cc) == "SERVING" })
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(t *testing.T) server.Config
		wantErr string
	}{
		{"no listener", func(*testing.T) server.Config { return server.Config{} }, "no listener"},
		{"grpc listener without server", func(t *testing.T) server.Config {
			ln := listen(t)
			t.Cleanup(func() { ln.Close() })
			return server.Config{GRPCListener: ln}
		}, "without GRPCServer"},
		{"negative drain timeout", func(t *testing.T) server.Config {
			ln := listen(t)
			t.Cleanup(func() { ln.Close() })
			return server.Config{HTTPListener: ln, DrainTimeout: -time.Second}
		}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := server.Run(context.Background(), tt.cfg(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
