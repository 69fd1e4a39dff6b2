package bench_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/bench"
)

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i))
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", []time.Duration{7}, 99, 7},
		{"median of 100", hundred, 50, 50},
		{"p99 of 100", hundred, 99, 99},
		{"p100", hundred, 100, 100},
		{"p99 of 10 is the largest", hundred[:10], 99, 10},
		{"p50 of 3", []time.Duration{1, 2, 3}, 50, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bench.Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestClosedLoop(t *testing.T) {
	var calls atomic.Int64
	res := bench.ClosedLoop(context.Background(), 4, 300*time.Millisecond, time.Second, func(ctx context.Context) error {
		n := calls.Add(1)
		time.Sleep(2 * time.Millisecond)
		if n%10 == 0 {
			return errors.New("every tenth fails")
		}
		return nil
	})
	if res.Requests != calls.Load() {
		t.Errorf("Requests = %d, want every call (%d)", res.Requests, calls.Load())
	}
	// 4 workers × 300 ms / 2 ms is at most 600; a loaded machine does less.
	if res.Requests < 20 || res.Requests > 600 {
		t.Errorf("Requests = %d, want 20..600", res.Requests)
	}
	if want := res.Requests / 10; res.Errors != want {
		t.Errorf("Errors = %d, want %d", res.Errors, want)
	}
	if res.FirstError != "every tenth fails" {
		t.Errorf("FirstError = %q", res.FirstError)
	}
	if p50 := bench.Percentile(res.Latencies, 50); p50 < 2*time.Millisecond {
		t.Errorf("p50 = %v, want at least the 2ms each call sleeps", p50)
	}
	if res.Elapsed < 300*time.Millisecond || res.Elapsed > 2*time.Second {
		t.Errorf("Elapsed = %v, want about 300ms", res.Elapsed)
	}
}

func TestClosedLoopStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	bench.ClosedLoop(ctx, 2, time.Minute, 0, func(ctx context.Context) error {
		<-ctx.Done() // a call that only ends with its context
		return ctx.Err()
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ClosedLoop ran %v after its context ended", took)
	}
}

func TestOpenLoop(t *testing.T) {
	var calls atomic.Int64
	const rate, d = 200.0, 500 * time.Millisecond
	res := bench.OpenLoop(context.Background(), rate, d, 16, time.Second, func() bench.Call {
		return func(ctx context.Context) error {
			calls.Add(1)
			time.Sleep(time.Millisecond)
			return nil
		}
	})
	// The schedule is fixed: rate × d requests, however fast they answer.
	if want := int64(rate * d.Seconds()); res.Requests != want || calls.Load() != want {
		t.Errorf("Requests = %d (calls %d), want %d", res.Requests, calls.Load(), want)
	}
	if got := res.RPS(); got < rate*0.9 || got > rate*1.1 {
		t.Errorf("RPS = %v, want about %v", got, rate)
	}
	if p50 := bench.Percentile(res.Latencies, 50); p50 < time.Millisecond {
		t.Errorf("p50 = %v, want at least the 1ms each call sleeps", p50)
	}
}

// TestOpenLoopCountsQueueing checks that a request waiting for a free worker
// is measured from when it was due: with one worker and calls twice as
// slow as the interval, the backlog grows, and so must the latencies.
func TestOpenLoopCountsQueueing(t *testing.T) {
	res := bench.OpenLoop(context.Background(), 100, 300*time.Millisecond, 1, time.Second, func() bench.Call {
		return func(ctx context.Context) error {
			time.Sleep(20 * time.Millisecond)
			return nil
		}
	})
	if res.Late == 0 {
		t.Errorf("Late = 0, want requests that waited for the only worker")
	}
	if p99 := bench.Percentile(res.Latencies, 99); p99 < 100*time.Millisecond {
		t.Errorf("p99 = %v, want the growing backlog (>100ms) counted, not just the 20ms service time", p99)
	}
}

// TestOpenLoopReusesWarmWorkers checks that a rate one worker can keep up
// with is sent by few workers (the last one back takes the next request),
// not by every worker in turn: each worker is a connection the measured
// server has to serve.
func TestOpenLoopReusesWarmWorkers(t *testing.T) {
	var used atomic.Int64
	res := bench.OpenLoop(context.Background(), 200, 300*time.Millisecond, 32, time.Second, func() bench.Call {
		first := true
		return func(ctx context.Context) error {
			if first {
				first = false
				used.Add(1)
			}
			time.Sleep(100 * time.Microsecond)
			return nil
		}
	})
	if res.Requests != 60 {
		t.Errorf("Requests = %d, want 60", res.Requests)
	}
	// One worker suffices; a slow moment of the machine may bring a second
	// or third in, never the 32.
	if n := used.Load(); n > 4 {
		t.Errorf("%d of 32 workers sent requests, want the few the rate needs", n)
	}
}
