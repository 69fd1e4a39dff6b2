package gateway_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/liveconfig"
)

// settableKV is a liveconfig.KV whose entries a test sets; a blocking List
// returns when they change.
type settableKV struct {
	mu      sync.Mutex
	entries []liveconfig.Entry
	index   uint64
	changed chan struct{}
}

func newSettableKV() *settableKV { return &settableKV{index: 1, changed: make(chan struct{})} }

func (k *settableKV) set(key, value string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.index++
	e := liveconfig.Entry{Service: "gateway", Key: key, Value: value, Index: k.index}
	for i := range k.entries {
		if k.entries[i].Key == key {
			k.entries[i] = e
			e.Key = ""
		}
	}
	if e.Key != "" {
		k.entries = append(k.entries, e)
	}
	close(k.changed)
	k.changed = make(chan struct{})
}

func (k *settableKV) List(ctx context.Context, _ string, index uint64, wait time.Duration) ([]liveconfig.Entry, uint64, error) {
	k.mu.Lock()
	if index < k.index {
		defer k.mu.Unlock()
		return append([]liveconfig.Entry(nil), k.entries...), k.index, nil
	}
	ch := k.changed
	k.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(wait):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]liveconfig.Entry(nil), k.entries...), k.index, nil
}

// TestFollowLive checks that composites stored in the live configuration
// replace the default, and that an invalid document changes nothing.
func TestFollowLive(t *testing.T) {
	up := newUpstream(t, "o1", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":"o1","items":[]}`))
	})
	svc := serviceName(t)
	tg := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/things", Service: svc,
		Instances: []consul.Instance{up.instance(svc)}, Public: mustPublic(t, "GET /api/v1/things")})

	kv := newSettableKV()
	store := liveconfig.NewStore(kv, gateway.LiveSchema(), liveconfig.Options{WaitTime: time.Second})
	def, err := gateway.LiveComposites.Parse(gateway.DefaultCompositesJSON)
	if err != nil {
		t.Fatal(err)
	}
	tg.gw.FollowLive(store, def, gateway.Balance{})
	store.Start()
	t.Cleanup(store.Stop)

	const thing = `{"composites":[{"name":"thing","path":"/api/v1/things/{id}","parts":[{"name":"self","path":"/api/v1/things/{id}","into":"self"}]}]}`
	composed := func() bool {
		resp, _ := tg.get(t, "/api/v1/things/o1?expand=self")
		return resp.StatusCode == http.StatusOK && resp.Header.Get("Cache-Control") == "private, no-store"
	}
	if composed() {
		t.Fatal("the composite answered before it was configured")
	}
	kv.set("composites", `{"composites":[{"name":"bad"}]}`) // refused: no path, no parts
	time.Sleep(200 * time.Millisecond)
	if composed() {
		t.Fatal("an invalid document changed the composites")
	}
	kv.set("composites", thing)
	waitFor(t, "the live composite", composed)
}
