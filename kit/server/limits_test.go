package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/server"
)

// serve runs cfg on a fresh HTTP listener until the test ends and returns
// the listener's address.
func serve(t *testing.T, cfg server.Config) string {
	t.Helper()
	ln := listen(t)
	cfg.HTTPListener = ln
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- server.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		<-ran
	})
	addr := ln.Addr().String()
	waitFor(t, func() bool { return probe("http://"+addr+"/healthz") == 200 })
	return addr
}

// closedWithin reports whether the server closes c within d, whatever it
// answers before that.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestRunCutsSlowBody: a client that sends its headers and part of the body
// it announced, then nothing, loses its connection after ReadTimeout, and
// the handler reading the body gets an error instead of waiting with it;
// the same for a path whose handler does not read the body at all.
func TestRunCutsSlowBody(t *testing.T) {
	handlerDone := make(chan error, 1)
	addr := serve(t, server.Config{
		ReadTimeout: 300 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			handlerDone <- err
		}),
	})
	for _, path := range []string{"/api/v1/things", "/healthz"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":\"a")
			if !closedWithin(t, c, 5*time.Second) {
				t.Fatal("connection with a stalled body still open after 5s, want it cut after the 300ms read timeout")
			}
			if path != "/healthz" {
				select {
				case err := <-handlerDone:
					if err == nil {
						t.Error("handler read the truncated body without an error")
					}
				case <-time.After(5 * time.Second):
					t.Error("handler still reading the stalled body")
				}
			}
		})
	}
}

// TestRunLimitsConnsPerClient: connections beyond MaxConnsPerClient from
// one address are closed unanswered, and a slot freed by a closed
// connection can be used again.
func TestRunLimitsConnsPerClient(t *testing.T) {
	addr := serve(t, server.Config{MaxConnsPerClient: 2})
	// serve's readiness probe may still hold its slot for a moment.
	time.Sleep(50 * time.Millisecond)
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	answers := func(c net.Conn, br *bufio.Reader) bool {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	c1, r1 := dial()
	c2, r2 := dial()
	if !answers(c1, r1) || !answers(c2, r2) {
		t.Fatal("the first two connections are not served")
	}
	c3, r3 := dial()
	if answers(c3, r3) {
		t.Error("a third connection from the same address was served, want it closed")
	}
	c1.Close()
	waitFor(t, func() bool {
		c, r := dial()
		defer c.Close()
		return answers(c, r)
	})
	if !answers(c2, r2) {
		t.Error("the second connection stopped being served")
	}
}

// TestRunMetricsListener: with a MetricsListener the metrics are served
// there, and the HTTP port has no /metrics.
func TestRunMetricsListener(t *testing.T) {
	metricsLn := listen(t)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	addr := serve(t, server.Config{Metrics: metrics, MetricsListener: metricsLn})
	internal := "http://" + metricsLn.Addr().String()
	for url, want := range map[string]int{
		"http://" + addr + "/metrics": http.StatusNotFound,
		internal + "/metrics":         http.StatusOK,
		internal + "/healthz":         http.StatusNotFound,
	} {
		if got := probe(url); got != want {
			t.Errorf("GET %s = %d, want %d", url, got, want)
		}
	}
	if err := server.Run(context.Background(), server.Config{HTTPListener: listen(t), MetricsListener: listen(t)}); err == nil ||
		!strings.Contains(err.Error(), "Metrics") {
		t.Errorf("Run with a MetricsListener and no Metrics = %v, want an error", err)
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.7:4000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:4000", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:5000", "2001:db8:1:2::/64"}, // same /64, same client
		{"[2001:db8:1:3::1]:4000", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:4000", "fe80::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a, err := net.ResolveTCPAddr("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := server.ClientKey(a); got != tt.want {
				t.Errorf("ClientKey(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
