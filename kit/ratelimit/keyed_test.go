package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

func TestKeyedAllowAt(t *testing.T) {
	type keyedCall struct {
		key string
		call
	}
	tests := []struct {
		name  string
		calls []keyedCall
	}{
		{
			name: "keys have separate buckets",
			calls: []keyedCall{
				{"a", call{0, true, 0}},
				{"a", call{0, false, time.Second}},
				{"b", call{0, true, 0}},
				{"b", call{0, false, time.Second}},
				{"a", call{time.Second, true, 0}},
			},
		},
		{
			name: "evicting a cold key does not reset a hot one",
			calls: []keyedCall{
				{"hot", call{0, true, 0}},
				{"c1", call{0, true, 0}},
				{"hot", call{0, false, time.Second}},
				{"c2", call{0, true, 0}}, // evicts c1, the least recently used
				{"hot", call{0, false, time.Second}},
				{"c3", call{0, true, 0}}, // evicts c2
				{"hot", call{0, false, time.Second}},
			},
		},
		{
			name: "evicted key starts with a full bucket",
			calls: []keyedCall{
				{"a", call{0, true, 0}},
				{"b", call{0, true, 0}},
				{"c", call{0, true, 0}}, // evicts a
				{"a", call{0, true, 0}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := ratelimit.NewKeyed(1, 1, 2)
			for i, c := range tt.calls {
				gotOK, gotWait := k.AllowAt(c.key, t0.Add(c.at))
				if gotOK != c.wantOK || !near(gotWait, c.wantWait) {
					t.Errorf("call %d (%s at +%v): got (%v, %v), want (%v, %v)", i, c.key, c.at, gotOK, gotWait, c.wantOK, c.wantWait)
				}
				if got := k.Len(); got > 2 {
					t.Errorf("call %d: Len = %d, want <= 2", i, got)
				}
			}
		})
	}
}

func TestKeyedBoundedMemory(t *testing.T) {
	const maxKeys = 50
	k := ratelimit.NewKeyed(1, 5, maxKeys)
	for i := range 10 * maxKeys {
		k.AllowAt(fmt.Sprintf("client-%d", i), t0)
		if got := k.Len(); got > maxKeys {
			t.Fatalf("after %d keys Len = %d, want <= %d", i+1, got, maxKeys)
		}
	}
	if got := k.Len(); got != maxKeys {
		t.Errorf("Len = %d, want %d", got, maxKeys)
	}
}

// A key that spent its bucket (an account locked out after failed logins)
// is not forgotten when a flood of new keys fills the table: the flood's
// own buckets, which spent less, make room instead.
func TestKeyedFloodKeepsSpentKey(t *testing.T) {
	const maxKeys = 100
	k := ratelimit.NewKeyed(1.0/60, 10, maxKeys) // refills over 10 minutes
	for range 10 {
		k.AllowAt("victim@example.com", t0)
	}
	if ok, _ := k.AllowAt("victim@example.com", t0); ok {
		t.Fatal("the bucket is not spent")
	}
	for i := range 50 * maxKeys {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		k.AllowAt(fmt.Sprintf("junk-%d@example.com", i), at)
		k.AllowAt(fmt.Sprintf("junk-%d@example.com", i), at) // a failure spends two
	}
	if ok, _ := k.AllowAt("victim@example.com", t0.Add(6*time.Second)); ok {
		t.Error("after a flood of new keys the spent key has a full bucket again")
	}
}

func TestKeyedIdleEviction(t *testing.T) {
	// burst 2 at 1/s: an untouched bucket is full again after 2s.
	k := ratelimit.NewKeyed(1, 2, 1000)
	for i := range 10 {
		k.AllowAt(fmt.Sprintf("old-%d", i), t0)
	}
	if got, want := k.Len(), 10; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}

	// Before the buckets have refilled nothing may be dropped.
	k.AllowAt("new", t0.Add(time.Second))
	if got, want := k.Len(), 11; got != want {
		t.Fatalf("Len before refill = %d, want %d", got, want)
	}

	// Afterwards every call reclaims some of the old keys, without any
	// background goroutine.
	later := t0.Add(3 * time.Second)
	for range 10 {
		k.AllowAt("new", later)
	}
	if got, want := k.Len(), 1; got != want {
		t.Errorf("Len after idle = %d, want %d", got, want)
	}
}

func TestKeyedUnlimited(t *testing.T) {
	k := ratelimit.NewKeyed(0, 0, 10)
	for i := range 100 {
		if ok, _ := k.AllowAt("a", t0); !ok {
			t.Fatalf("call %d rejected, want unlimited", i)
		}
	}
}

func TestKeyedConcurrent(t *testing.T) {
	const (
		goroutines = 64
		perG       = 200
		burst      = 10
	)
	// A rate this slow adds no token during the test, so exactly burst calls
	// per key may pass however the goroutines interleave.
	k := ratelimit.NewKeyed(1e-6, burst, 1000)
	keys := []string{"a", "b", "c", "d"}
	allowed := make([]atomic.Int64, len(keys))

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				idx := (g + i) % len(keys)
				if ok, _ := k.Allow(keys[idx]); ok {
					allowed[idx].Add(1)
				}
				// Churn through other keys too, so eviction runs concurrently.
				k.Allow(fmt.Sprintf("g%d-%d", g, i%50))
			}
		})
	}
	wg.Wait()

	for i, key := range keys {
		if got := allowed[i].Load(); got != burst {
			t.Errorf("key %s: %d calls allowed, want %d", key, got, burst)
		}
	}
	if got := k.Len(); got > 1000 {
		t.Errorf("Len = %d, want <= 1000", got)
	}
}

func TestKeyedMiddleware(t *testing.T) {
	type userKey struct{}
	k := ratelimit.NewKeyed(1, 1, 100)
	ep := ratelimit.KeyedMiddleware(k, func(ctx context.Context, _ any) string {
		s, _ := ctx.Value(userKey{}).(string)
		return s
	})(func(context.Context, any) (any, error) { return "ok", nil })

	tests := []struct {
		user    string
		wantErr bool
	}{
		{"alice", false},
		{"alice", true},
		{"bob", false},
		{"bob", true},
	}
	for i, tt := range tests {
		ctx := context.WithValue(context.Background(), userKey{}, tt.user)
		_, err := ep(ctx, nil)
		if got := errs.Is(err, errs.RateLimited); got != tt.wantErr {
			t.Errorf("call %d (%s): err = %v, want rate limited %v", i, tt.user, err, tt.wantErr)
		}
		if tt.wantErr && errs.RetryAfterOf(err) < time.Second {
			t.Errorf("call %d: RetryAfter = %v, want >= 1s", i, errs.RetryAfterOf(err))
		}
	}
}

func BenchmarkKeyedAllow(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	b.Run("hit", func(b *testing.B) {
		k := ratelimit.NewKeyed(1e9, 1e6, len(keys))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k.Allow(keys[i%len(keys)])
			i++
		}
	})
	b.Run("churn", func(b *testing.B) {
		// Half as many slots as keys: every call evicts one bucket and
		// creates another.
		k := ratelimit.NewKeyed(1, 10, len(keys)/2)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k.Allow(keys[i%len(keys)])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		k := ratelimit.NewKeyed(1e9, 1e6, len(keys))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				k.Allow(keys[i%len(keys)])
				i++
			}
		})
	})
}

func TestKeyedSetRate(t *testing.T) {
	now := time.Now()
	k := ratelimit.NewKeyed(100, 100, 10)
	for i := range 5 {
		if ok, _ := k.AllowAt("a", now); !ok {
			t.Fatalf("call %d refused under the first limit", i)
		}
	}
	k.SetRate(1, 2) // the bucket of a keeps 95 tokens, capped at 2
	for i, want := range []bool{true, true, false} {
		if ok, _ := k.AllowAt("a", now); ok != want {
			t.Errorf("call %d after lowering: allowed %v, want %v", i, ok, want)
		}
	}
	k.SetRate(0, 1) // disabled
	if ok, _ := k.AllowAt("a", now); !ok {
		t.Error("call refused with the limit disabled")
	}
}
