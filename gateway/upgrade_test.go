package gateway_test

import (
	"bufio"
	"io"
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// TestProxyRefusesUpgrades: a request to switch protocols (WebSocket) is
// answered 400 by the gateway and never reaches the instance, which would
// switch and keep the spliced connection beyond every limit of the gateway;
// an h2c offer is dropped and the request served as usual.
func TestProxyRefusesUpgrades(t *testing.T) {
	svc := serviceName(t)
	var gotUpgrade string
	up := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) {
		gotUpgrade = r.Header.Get("Upgrade")
		if r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(w, "plain")
			return
		}
		// A WebSocket server: switches and holds the connection.
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		bufio.NewReader(conn).ReadByte() // until the other side closes
		conn.Close()
	})
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/ws", Service: svc,
		Instances: []consul.Instance{up.instance(svc)}, Public: allPublic(t, "/api/v1/ws")})

	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}},
		{"connection token in a list", http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"websocket"}}},
		{"upgrade without connection", http.Header{"Upgrade": {"websocket"}}},
		{"connection without upgrade", http.Header{"Connection": {"Upgrade"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := up.hits.Load()
			resp, body := gw.do(t, http.MethodGet, "/api/v1/ws/chat", nil, tt.header)
			wantProblem(t, resp, body, http.StatusBadRequest, "invalid")
			if n := up.hits.Load() - before; n != 0 {
				t.Errorf("upstream got %d requests, want none", n)
			}
		})
	}

	t.Run("h2c offer", func(t *testing.T) {
		resp, body := gw.do(t, http.MethodGet, "/api/v1/ws/chat", nil,
			http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAAQCAAAAAAIAAAAA"}})
		if resp.StatusCode != http.StatusOK || body != "plain" {
			t.Fatalf("h2c offer = %d %q, want 200 from the instance", resp.StatusCode, body)
		}
		if gotUpgrade != "" {
			t.Errorf("instance saw Upgrade %q, want none", gotUpgrade)
		}
	})
}
