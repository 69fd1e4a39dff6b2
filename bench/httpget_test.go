package bench_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/bench"
)

// TestHTTPGet checks the open loop's lean client against a real server:
// the request it sends, the errors it reports, and that a caller keeps its
// connection unless the server closes it.
func TestHTTPGet(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		check     func(*http.Response) error
		wantErr   string // "" for none
		wantConns int64  // connections opened by three calls of one caller
	}{
		{name: "ok, one connection", path: "/ok", wantConns: 1},
		{name: "a 4xx is an error, the connection stays", path: "/missing", wantErr: "status 404", wantConns: 1},
		{name: "a closing response costs a new connection", path: "/close", wantConns: 3},
		{name: "check decides", path: "/ok", check: func(r *http.Response) error {
			return fmt.Errorf("content type %s", r.Header.Get("Content-Type"))
		}, wantErr: "content type application/json", wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("X-Test"); got != "yes" {
					t.Errorf("X-Test = %q, want the header given to HTTPGet", got)
				}
				switch r.URL.Path {
				case "/ok":
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(`{"id":"42"}`))
				case "/close":
					w.Header().Set("Connection", "close")
					w.Write([]byte("bye"))
				default:
					http.NotFound(w, r)
				}
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			newCall, err := bench.HTTPGet(srv.URL+tt.path, http.Header{"X-Test": {"yes"}}, tt.check)
			if err != nil {
				t.Fatal(err)
			}
			call := newCall()
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := call(ctx)
				cancel()
				switch {
				case tt.wantErr == "" && err != nil:
					t.Fatalf("call: %v", err)
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					t.Fatalf("call: %v, want %q", err, tt.wantErr)
				}
			}
			if got := conns.Load(); got != tt.wantConns {
				t.Errorf("connections = %d, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestHTTPGetRefusesOtherSchemes(t *testing.T) {
	for _, u := range []string{"https://example.com/", "ftp://example.com/", "/relative"} {
		if _, err := bench.HTTPGet(u, nil, nil); err == nil {
			t.Errorf("HTTPGet(%q) = nil error, want one", u)
		}
	}
}

// TestHTTPGetTimesOut checks that a call ends with its context when the
// server does not answer.
func TestHTTPGetTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	newCall, err := bench.HTTPGet(srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := newCall()(ctx); err == nil {
		t.Fatal("call answered, want a timeout")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("call took %v, want it to end near its 100ms deadline", took)
	}
}
