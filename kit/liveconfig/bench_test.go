package liveconfig_test

import (
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/liveconfig"
)

// BenchmarkValueGet is the cost a live setting adds to a request's path.
func BenchmarkValueGet(b *testing.B) {
	d := liveconfig.Duration("request-timeout", "", 0, time.Minute)
	store := liveconfig.NewStore(nil, liveconfig.NewSchema("bench", d), liveconfig.Options{})
	v := liveconfig.Bind(store, d, 10*time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v.Get() != 10*time.Second {
				b.Fatal("wrong value")
			}
		}
	})
}
