package bench_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/bench"
)

func TestEventLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want []string
		not  []string
	}{
		{"clean", (&bench.EventLatency{OfferedPerSec: 1000, Duration: "10s", Events: 10000, Effects: 10000,
			P50: 3 * time.Millisecond, P99: 12 * time.Millisecond}).Line(),
			[]string{"10000 events at 1000/s", "p50 3ms", "p99 12ms"}, []string{"FAILED"}},
		{"lost", (&bench.EventLatency{Events: 10, Effects: 9}).Line(), []string{"FAILED: 10 events, 9 effects"}, nil},
		{"duplicated", (&bench.EventLatency{Events: 10, Effects: 10, Duplicates: 1}).Line(), []string{"FAILED", "1 duplicates"}, nil},
		{"n/a", (&bench.EventLatency{NA: "no broker"}).Line(), []string{"n/a (no broker)"}, nil},
		{"orders", (&bench.OrderPipeline{Clients: 16, Duration: "10s", Placed: 100, Paid: 100, PerSec: 9.5}).Line(),
			[]string{"100 orders placed by 16 clients", "10 paid orders/s"}, []string{"FAILED"}},
		{"unpaid", (&bench.OrderPipeline{Placed: 100, Paid: 99}).Line(), []string{"FAILED: 99 of 100 orders paid"}, nil},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.line, w) {
				t.Errorf("%s: %q lacks %q", tc.name, tc.line, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(tc.line, n) {
				t.Errorf("%s: %q has %q", tc.name, tc.line, n)
			}
		}
	}
}
