package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestParseBalance(t *testing.T) {
	tests := []struct {
		def, value string
		wantErr    bool
		want       string
	}{
		{"", "", false, ""},
		{"p2c", "product=random, order=round_robin", false, "order=round_robin,product=random"},
		{"fastest", "", true, ""},
		{"", "product=fastest", true, ""},
		{"", "product", true, ""},
		{"", "=p2c", true, ""},
	}
	for _, tt := range tests {
		b, err := gateway.ParseBalance(tt.def, tt.value)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseBalance(%q, %q) error %v, want error %v", tt.def, tt.value, err, tt.wantErr)
			continue
		}
		if err == nil && b.String() != tt.want {
			t.Errorf("ParseBalance(%q, %q) = %q, want %q", tt.def, tt.value, b.String(), tt.want)
		}
	}
}

// TestBalanceP2C checks that power of two choices, with two instances,
// sends nothing new to the one with a request in flight.
func TestBalanceP2C(t *testing.T) {
	release := make(chan struct{})
	slow := newUpstream(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			<-release
		}
		w.Write([]byte("slow"))
	})
	fast := newUpstream(t, "fast", nil)
	svc := serviceName(t)
	tg := newGateway(t, gateway.Config{Balance: gateway.Balance{Services: map[string]string{svc: gateway.BalanceP2C}}}, gateway.Route{
		Prefix: "/api/v1/x", Service: svc, Public: allPublic(t, "/api/v1/x"),
		Instances: []consul.Instance{slow.instance(svc), fast.instance(svc)},
	})
	// Released however the test ends, or closing the server would wait
	// for the held request forever.
	defer close(release)
	// One request at a time until one is held by the slow instance; the
	// others, answered by the fast one, are over before the next starts,
	// so nothing else is in flight below.
	for slow.hits.Load() == 0 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := tg.Client().Get(tg.URL + "/api/v1/x?hold=1"); err == nil {
				resp.Body.Close()
			}
		}()
		for slow.hits.Load() == 0 {
			select {
			case <-done:
			case <-time.After(time.Millisecond):
				continue
			}
			break
		}
	}
	before := slow.hits.Load()
	for range 20 {
		if _, body := tg.get(t, "/api/v1/x"); body != "fast" {
			t.Fatalf("p2c sent a request to the instance with one in flight (got %q)", body)
		}
	}
	if slow.hits.Load() != before {
		t.Errorf("slow instance got %d more requests, want 0", slow.hits.Load()-before)
	}
}
