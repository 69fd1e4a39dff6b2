package gateway_test

import (
	"bufio"
	"context"
	"errors"
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
)

// rawUpstream is a TCP server that speaks just enough HTTP/1.1 to misbehave
// on purpose: serve is called for every request with the connection and the
// number of the request on it (from 1).
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newRawUpstream(t *testing.T, serve func(conn net.Conn, req *http.Request, n int) (keepOpen bool)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	u.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			u.wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for n := 1; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if !serve(conn, req, n) {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		u.wg.Wait()
	})
	return u
}

func (u *rawUpstream) url(path string) string { return "http://" + u.ln.Addr().String() + path }

// roundTrip sends one request through tr and returns the status and body.
func roundTrip(t *testing.T, tr http.RoundTripper, req *http.Request) (int, string, error) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func newRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// transport is what the gateway needs of an upstream transport.
type transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

// forEachTransport runs test against the gateway's upstream transport and
// against net/http's, tuned as the gateway tunes it: the two must behave
// alike.
func forEachTransport(t *testing.T, test func(*testing.T, func() transport)) {
	for _, tc := range []struct {
		name string
		new  func() transport
	}{
		{"Upstream", func() transport { return gateway.NewUpstream() }},
		{"net/http", func() transport { return gateway.NewTransport() }},
	} {
		t.Run(tc.name, func(t *testing.T) { test(t, tc.new) })
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestTransportReusesConnections(t *testing.T) {
	forEachTransport(t, testTransportReusesConnections)
}

func testTransportReusesConnections(t *testing.T, newTransport func() transport) {
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	tr := newTransport()
	defer tr.CloseIdleConnections()

	for i, method := range []string{"GET", "POST", "HEAD", "DELETE", "GET"} {
		body := ""
		if method == "POST" {
			body = `{"n":1}`
		}
		status, got, err := roundTrip(t, tr, newRequest(t, method, up.URL+"/api/x", body))
		if err != nil || status != http.StatusOK {
			t.Fatalf("request %d (%s): status %d, err %v", i, method, status, err)
		}
		if want := method + " /api/x"; method != "HEAD" && got != want {
			t.Errorf("request %d: body %q, want %q", i, got, want)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("upstream saw %d connections, want 1 reused", got)
	}
}

// TestUpstreamClosedIdleConnection covers an instance that closes a
// keep-alive connection after answering, without saying so: a request that
// finds the connection dead is sent again on a fresh one when that is safe,
// and a connection idle for a while is checked before it is used.
func TestTransportClosedIdleConnection(t *testing.T) {
	forEachTransport(t, testTransportClosedIdleConnection)
}

func testTransportClosedIdleConnection(t *testing.T, newTransport func() transport) {
	tests := []struct {
		name     string
		method   string
		header   string
		wait     time.Duration // between the two requests
		wantErr  bool
		wantHits int64 // connections the upstream saw
	}{
		{name: "GET retried on a fresh connection", method: "GET", wantHits: 2},
		// net/http's reader notices the close before the POST is sent.
		{name: "POST sent on a fresh connection", method: "POST", wantHits: 2},
		{name: "POST with an idempotency key retried", method: "POST", header: "Idempotency-Key", wantHits: 2},
		{name: "POST after a pause finds the connection closed beforehand", method: "POST", wait: 300 * time.Millisecond, wantHits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRawUpstream(t, func(conn net.Conn, _ *http.Request, _ int) bool {
				io.WriteString(conn, okResponse)
				return false // and close, without "Connection: close"
			})
			tr := newTransport()
			defer tr.CloseIdleConnections()
			if _, _, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/first"), "")); err != nil {
				t.Fatalf("first request: %v", err)
			}
			time.Sleep(tt.wait + 20*time.Millisecond) // let the close arrive
			req := newRequest(t, tt.method, up.url("/second"), "")
			if tt.method == "POST" {
				req = newRequest(t, tt.method, up.url("/second"), `{"n":2}`)
			}
			if tt.header != "" {
				req.Header.Set(tt.header, "k-1")
			}
			status, _, err := roundTrip(t, tr, req)
			switch {
			case tt.wantErr && err == nil:
				t.Errorf("second request: status %d, want an error", status)
			case !tt.wantErr && (err != nil || status != http.StatusOK):
				t.Errorf("second request: status %d, err %v; want 200", status, err)
			}
			if got := up.conns.Load(); !tt.wantErr && got != tt.wantHits {
				t.Errorf("upstream saw %d connections, want %d", got, tt.wantHits)
			}
		})
	}
}

func TestTransportSkipsInterimResponses(t *testing.T) {
	forEachTransport(t, testTransportSkipsInterimResponses)
}

func testTransportSkipsInterimResponses(t *testing.T, newTransport func() transport) {
	up := newRawUpstream(t, func(conn net.Conn, _ *http.Request, _ int) bool {
		io.WriteString(conn, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"+okResponse)
		return true
	})
	tr := newTransport()
	defer tr.CloseIdleConnections()
	for i := range 2 {
		status, body, err := roundTrip(t, tr, newRequest(t, "POST", up.url("/x"), "data"))
		if err != nil || status != http.StatusOK || body != "ok" {
			t.Errorf("request %d: status %d, body %q, err %v; want 200 ok", i, status, body, err)
		}
	}
	if got := up.conns.Load(); got != 1 {
		t.Errorf("upstream saw %d connections, want 1", got)
	}
}

func TestTransportResponseHeaderLimit(t *testing.T) {
	forEachTransport(t, testTransportResponseHeaderLimit)
}

func testTransportResponseHeaderLimit(t *testing.T, newTransport func() transport) {
	up := newRawUpstream(t, func(conn net.Conn, _ *http.Request, _ int) bool {
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\nContent-Length: 0\r\n\r\n")
		return false
	})
	tr := newTransport()
	defer tr.CloseIdleConnections()
	if _, _, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/x"), "")); err == nil {
		t.Error("response with 2 MiB of headers accepted")
	}
}

func TestTransportContextEndsBodyRead(t *testing.T) {
	forEachTransport(t, testTransportContextEndsBodyRead)
}

func testTransportContextEndsBodyRead(t *testing.T, newTransport func() transport) {
	release := make(chan struct{})
	var requests atomic.Int64
	up := newRawUpstream(t, func(conn net.Conn, _ *http.Request, _ int) bool {
		if requests.Add(1) == 1 {
			// The head and half the body, then nothing until the test ends.
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
			<-release
			return false
		}
		io.WriteString(conn, okResponse)
		return true
	})
	defer close(release)
	tr := newTransport()
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp, err := tr.RoundTrip(newRequest(t, "GET", up.url("/slow"), "").WithContext(ctx))
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("body read error = %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("body read took %v after the deadline", took)
	}
	// The broken connection is not reused: the next request gets a new one.
	if status, body, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/next"), "")); err != nil || body != "ok" {
		t.Errorf("next request: status %d, body %q, err %v", status, body, err)
	}
	if got := up.conns.Load(); got != 2 {
		t.Errorf("upstream saw %d connections, want 2", got)
	}
}

func TestTransportEarlyCloseDropsConnection(t *testing.T) {
	forEachTransport(t, testTransportEarlyCloseDropsConnection)
}

func testTransportEarlyCloseDropsConnection(t *testing.T, newTransport func() transport) {
	up := newRawUpstream(t, func(conn net.Conn, _ *http.Request, _ int) bool {
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
		return true
	})
	tr := newTransport()
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(newRequest(t, "GET", up.url("/x"), ""))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	io.ReadFull(resp.Body, buf)
	resp.Body.Close() // 7 bytes unread: the connection cannot carry another request
	if _, body, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/y"), "")); err != nil || body != "0123456789" {
		t.Errorf("next request: body %q, err %v", body, err)
	}
	if got := up.conns.Load(); got != 2 {
		t.Errorf("upstream saw %d connections, want 2", got)
	}
}

func TestTransportDialError(t *testing.T) { forEachTransport(t, testTransportDialError) }

func testTransportDialError(t *testing.T, newTransport func() transport) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	tr := newTransport()
	_, _, err = roundTrip(t, tr, newRequest(t, "GET", "http://"+addr+"/x", ""))
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("error = %v, want a dial *net.OpError", err)
	}
}

func TestTransportCloseIdleConnections(t *testing.T) {
	forEachTransport(t, testTransportCloseIdleConnections)
}

func testTransportCloseIdleConnections(t *testing.T, newTransport func() transport) {
	up := newRawUpstream(t, func(conn net.Conn, _ *http.Request, _ int) bool {
		io.WriteString(conn, okResponse)
		return true
	})
	tr := newTransport()
	for range 2 {
		if _, _, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/x"), "")); err != nil {
			t.Fatal(err)
		}
		tr.CloseIdleConnections()
	}
	if got := up.conns.Load(); got != 2 {
		t.Errorf("upstream saw %d connections, want 2 (the first closed in between)", got)
	}
}

// TestTransportUnsolicitedBytes covers an instance that sends more than its
// response declared: the extra bytes must never be read as the response to
// the next request on that connection.
func TestTransportUnsolicitedBytes(t *testing.T) { forEachTransport(t, testTransportUnsolicitedBytes) }

func testTransportUnsolicitedBytes(t *testing.T, newTransport func() transport) {
	tests := []struct {
		name  string
		split bool // the extra bytes arrive after the response, not with it
	}{
		{name: "with the response"},
		{name: "after the response", split: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
			up := newRawUpstream(t, func(conn net.Conn, req *http.Request, _ int) bool {
				if req.URL.Path != "/first" {
					io.WriteString(conn, okResponse)
					return true
				}
				if !tt.split {
					io.WriteString(conn, okResponse+extra)
					return true
				}
				io.WriteString(conn, okResponse)
				time.Sleep(20 * time.Millisecond)
				io.WriteString(conn, extra)
				return true
			})
			tr := newTransport()
			defer tr.CloseIdleConnections()
			if _, body, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/first"), "")); err != nil || body != "ok" {
				t.Fatalf("first request: body %q, err %v", body, err)
			}
			time.Sleep(50 * time.Millisecond)
			if _, body, err := roundTrip(t, tr, newRequest(t, "GET", up.url("/second"), "")); err != nil || body != "ok" {
				t.Errorf("second request: body %q, err %v; want ok on a fresh connection", body, err)
			}
		})
	}
}
