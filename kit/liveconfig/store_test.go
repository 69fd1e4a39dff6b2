package liveconfig_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/liveconfig"
)

// applyWithin is how long a change may take to reach a store in these
// tests: the promise is a second, with slack for a loaded machine.
const applyWithin = 5 * time.Second

type fixture struct {
	client *liveconfig.Client
	raw    *api.KV
	store  *liveconfig.Store
	schema liveconfig.Schema
	logs   *testlog.Buffer
	reg    *prometheus.Registry
}

// newFixture starts a store of a service unique to the test on addr.
func newFixture(t *testing.T, addr string) *fixture {
	t.Helper()
	// Unique per run: the shared agent keeps what earlier runs stored.
	service := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + strings.ToLower(rand.Text()[:8])
	schema := liveconfig.NewSchema(service, testSchema.Settings()...)
	client, err := liveconfig.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{client: client, raw: c.KV(), schema: schema, logs: &testlog.Buffer{}, reg: prometheus.NewRegistry()}
	f.store = liveconfig.NewStore(client, schema, liveconfig.Options{
		Logger: log.NewLogfmtLogger(f.logs), Registerer: f.reg, WaitTime: 10 * time.Second,
	})
	return f
}

func (f *fixture) start(t *testing.T) {
	t.Helper()
	f.store.Start()
	t.Cleanup(f.store.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), applyWithin)
	defer cancel()
	if err := f.store.Ready(ctx); err != nil {
		t.Fatalf("store not ready: %v", err)
	}
}

func (f *fixture) put(t *testing.T, key, value string) {
	t.Helper()
	if _, err := f.raw.Put(&api.KVPair{Key: liveconfig.Prefix(f.schema.Service()) + key, Value: []byte(value)}, nil); err != nil {
		t.Fatal(err)
	}
}

func eventually[T comparable](t *testing.T, what string, get func() T, want T) {
	t.Helper()
	deadline := time.Now().Add(applyWithin)
	for {
		got := get()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %v, want %v", what, got, applyWithin, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStoreAppliesChanges(t *testing.T) {
	f := newFixture(t, testenv.Consul(t).Addr())
	ctx := context.Background()
	// A value stored before the service starts is in force once it is ready.
	if err := f.client.Set(ctx, f.schema, "rate-burst", "7", "alice"); err != nil {
		t.Fatal(err)
	}
	burst := liveconfig.Bind(f.store, liveconfig.Int("rate-burst", "", 1, 1000), 100)
	timeout := liveconfig.Bind(f.store, liveconfig.Duration("request-timeout", "", time.Millisecond, time.Minute), 10*time.Second)
	var seen []time.Duration
	var mu sync.Mutex
	timeout.OnChange(func(d time.Duration) { mu.Lock(); seen = append(seen, d); mu.Unlock() })
	f.start(t)
	if got := burst.Get(); got != 7 {
		t.Errorf("burst after Ready = %d, want the stored 7", got)
	}
	if got := timeout.Get(); got != 10*time.Second {
		t.Errorf("timeout after Ready = %v, want the default 10s", got)
	}

	if err := f.client.Set(ctx, f.schema, "request-timeout", "250ms", "bob"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "timeout", timeout.Get, 250*time.Millisecond)
	f.logs.Wait(t, applyWithin, `key=request-timeout old=10s new=250ms by=bob`)

	// Written without kitctl: applied, and not attributed to the last author.
	f.put(t, "request-timeout", "2s")
	eventually(t, "timeout", timeout.Get, 2*time.Second)
	if line := f.logs.Wait(t, applyWithin, "key=request-timeout old=250ms new=2s"); strings.Contains(line, "by=") {
		t.Errorf("a raw write was attributed to an author: %s", line)
	}

	if err := f.client.Delete(ctx, f.schema.Service(), "request-timeout"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "timeout", timeout.Get, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{10 * time.Second, 250 * time.Millisecond, 2 * time.Second, 10 * time.Second}
	if len(seen) != len(want) {
		t.Fatalf("OnChange saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("OnChange saw %v, want %v", seen, want)
		}
	}
}

func TestStoreIgnoresInvalidValues(t *testing.T) {
	f := newFixture(t, testenv.Consul(t).Addr())
	limit := liveconfig.Bind(f.store, liveconfig.Float("rate-limit", "", 0, 1e6), 100)
	f.start(t)

	f.put(t, "rate-limit", "5")
	eventually(t, "limit", limit.Get, 5)
	f.put(t, "rate-limit", "-3")
	eventually(t, "invalid count", func() float64 {
		return storeInvalid(t, f.reg, "rate-limit")
	}, 1)
	if got := limit.Get(); got != 5 {
		t.Errorf("limit after an invalid value = %v, want the previous 5", got)
	}
	f.logs.Wait(t, applyWithin, "invalid live setting ignored")
	if err := f.client.Set(context.Background(), f.schema, "rate-limit", "-3", "alice"); err == nil {
		t.Error("Client.Set wrote an invalid value")
	}
	if err := f.client.Set(context.Background(), f.schema, "no-such-key", "1", "alice"); err == nil {
		t.Error("Client.Set wrote an unknown key")
	}
}

// storeInvalid returns the invalid-value counter of key from reg.
func storeInvalid(t *testing.T, reg *prometheus.Registry, key string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "kitshop_liveconfig_invalid_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "key" && l.GetValue() == key {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func TestStoreJSONSetting(t *testing.T) {
	f := newFixture(t, testenv.Consul(t).Addr())
	def := liveconfig.JSON("composites", "", func(cs []composite) error { return nil })
	cs := liveconfig.Bind(f.store, def, nil)
	f.start(t)
	if err := f.client.Set(context.Background(), f.schema, "composites", `[{"path":"/a","parts":["x","y"]}]`, "carol"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "composites", func() string { return def.Format(cs.Get()) }, `[{"path":"/a","parts":["x","y"]}]`)
}

func TestStoreFeatureFlags(t *testing.T) {
	f := newFixture(t, testenv.Consul(t).Addr())
	checkout := f.store.Flag("new-checkout", "", true)
	f.start(t)
	var flags liveconfig.Flags = f.store
	if !flags.Enabled("new-checkout") || flags.Enabled("unbound") {
		t.Fatalf("defaults: new-checkout %v unbound %v, want true false", flags.Enabled("new-checkout"), flags.Enabled("unbound"))
	}
	f.put(t, "feature/new-checkout", "false")
	f.put(t, "feature/unbound", "true")
	eventually(t, "new-checkout", checkout.Get, false)
	eventually(t, "unbound", func() bool { return flags.Enabled("unbound") }, true)
}

func TestStoreKeepsValuesWhileConsulIsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := devenv.StartConsul(ctx, devenv.ConsulConfig{LogPath: t.TempDir() + "/consul.log"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	f := newFixture(t, c.Addr())
	burst := liveconfig.Bind(f.store, liveconfig.Int("rate-burst", "", 1, 1000), 100)
	f.start(t)
	f.put(t, "rate-burst", "9")
	eventually(t, "burst", burst.Get, 9)

	// The values in force stay while nobody answers.
	if err := c.Process().Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if got := burst.Get(); got != 9 {
		t.Errorf("burst while Consul is down = %d, want 9", got)
	}
	f.logs.Wait(t, applyWithin, "live configuration unreachable")
}
