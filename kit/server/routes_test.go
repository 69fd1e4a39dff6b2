package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/server"
)

// TestRunRoutesLikeRouter checks that Run answers every request as an
// httpx.Router with the same routes would: its own paths, the service's,
// and the odd ones the router redirects or refuses.
func TestRunRoutesLikeRouter(t *testing.T) {
	service := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "service "+r.Method+" "+r.URL.Path)
	})
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	h := health.New()
	h.SetReady(true)
	want := httpx.NewRouter(log.NewNopLogger())
	want.Handle(http.MethodGet, "/healthz", server.LiveHandler())
	want.Handle(http.MethodGet, "/readyz", h.ReadyHandler())
	want.Handle(http.MethodGet, "/metrics", metrics)
	want.Handle("", "/", service)
	reference := httptest.NewServer(want)
	defer reference.Close()

	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- server.Run(ctx, server.Config{HTTPListener: ln, Handler: service, Metrics: metrics, Health: h})
	}()
	defer func() {
		cancel()
		<-ran
	}()
	base := "http://" + ln.Addr().String()
	waitFor(t, func() bool { return probe(base+"/healthz") == 200 })

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"HEAD", "/healthz"}, {"POST", "/healthz"}, {"GET", "/healthz/"},
		{"GET", "/readyz"}, {"GET", "/metrics"}, {"DELETE", "/metrics"},
		{"GET", "/api/v1/products/42"}, {"POST", "/api/v1/products"}, {"GET", "/"},
		{"GET", "/api//products"}, {"GET", "/api/v1/./products"}, {"GET", "/api/v1/../healthz"},
		{"GET", "/health%7Az"}, {"GET", "/api/v1/products/a%2Fb"}, {"GET", "/api/v1/products/%2e%2e/x"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			do := func(base string) (int, string, string) {
				req, err := http.NewRequest(tt.method, base+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Header.Get("Location"), string(body)
			}
			gotStatus, gotLoc, gotBody := do(base)
			wantStatus, wantLoc, wantBody := do(reference.URL)
			if gotStatus != wantStatus || gotLoc != wantLoc {
				t.Errorf("status %d (Location %q), want %d (Location %q)", gotStatus, gotLoc, wantStatus, wantLoc)
			}
			if wantStatus == http.StatusOK && gotBody != wantBody {
				t.Errorf("body %q, want %q", gotBody, wantBody)
			}
		})
	}
}
