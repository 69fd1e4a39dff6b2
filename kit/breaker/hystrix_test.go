package breaker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
)

// uniqueName returns a hystrix command name no other test (or -count run)
// uses: hystrix keeps circuits in a process-wide registry.
func uniqueName(t *testing.T) string {
	t.Helper()
	return t.Name() + "-" + rand.Text()
}

// eventually polls cond until it holds or the deadline passes. Hystrix
// records outcomes on a background goroutine, so state changes lag calls.
func eventually(t *testing.T, within time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func TestNewHystrixSettings(t *testing.T) {
	tests := []struct {
		name        string
		in          breaker.Settings
		want        breaker.Settings
		wantHystrix hystrix.Settings
	}{
		{
			name:        "defaults",
			in:          breaker.Settings{},
			want:        breaker.Settings{Timeout: 10 * time.Second, MaxConcurrent: 100, VolumeThreshold: 20, ErrorPercent: 50, SleepWindow: 5 * time.Second},
			wantHystrix: hystrix.Settings{Timeout: 10 * time.Second, MaxConcurrentRequests: 10000, RequestVolumeThreshold: 20, SleepWindow: 5 * time.Second, ErrorPercentThreshold: 50},
		},
		{
			name:        "explicit",
			in:          breaker.Settings{Timeout: 2 * time.Second, MaxConcurrent: 7, VolumeThreshold: 3, ErrorPercent: 25, SleepWindow: time.Second},
			want:        breaker.Settings{Timeout: 2 * time.Second, MaxConcurrent: 7, VolumeThreshold: 3, ErrorPercent: 25, SleepWindow: time.Second},
			wantHystrix: hystrix.Settings{Timeout: 2 * time.Second, MaxConcurrentRequests: 10000, RequestVolumeThreshold: 3, SleepWindow: time.Second, ErrorPercentThreshold: 25},
		},
		{
			name:        "huge concurrency keeps hystrix's pool out of the way",
			in:          breaker.Settings{MaxConcurrent: 8000},
			want:        breaker.Settings{Timeout: 10 * time.Second, MaxConcurrent: 8000, VolumeThreshold: 20, ErrorPercent: 50, SleepWindow: 5 * time.Second},
			wantHystrix: hystrix.Settings{Timeout: 10 * time.Second, MaxConcurrentRequests: 16000, RequestVolumeThreshold: 20, SleepWindow: 5 * time.Second, ErrorPercentThreshold: 50},
		},
		{
			name:        "sub-millisecond rounds up",
			in:          breaker.Settings{Timeout: 100 * time.Microsecond},
			want:        breaker.Settings{Timeout: 100 * time.Microsecond, MaxConcurrent: 100, VolumeThreshold: 20, ErrorPercent: 50, SleepWindow: 5 * time.Second},
			wantHystrix: hystrix.Settings{Timeout: time.Millisecond, MaxConcurrentRequests: 10000, RequestVolumeThreshold: 20, SleepWindow: 5 * time.Second, ErrorPercentThreshold: 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := uniqueName(t)
			h := breaker.NewHystrix(name, tt.in)
			if got := h.Name(); got != name {
				t.Errorf("Name() = %q, want %q", got, name)
			}
			if got := h.Settings(); got != tt.want {
				t.Errorf("Settings() = %+v, want %+v", got, tt.want)
			}
			got := hystrix.GetCircuitSettings()[name]
			if got == nil {
				t.Fatalf("no hystrix settings for %q", name)
			}
			if *got != tt.wantHystrix {
				t.Errorf("hystrix settings = %+v, want %+v", *got, tt.wantHystrix)
			}
		})
	}
}

// TestHystrixFastCallsNotRejected guards against hystrix's lagging ticket
// returns: back-to-back fast calls must never look concurrent.
func TestHystrixFastCallsNotRejected(t *testing.T) {
	h := breaker.NewHystrix(uniqueName(t), breaker.Settings{MaxConcurrent: 1})
	ep := breaker.Middleware(h)(func(context.Context, any) (any, error) { return "ok", nil })
	for i := range 5000 {
		if _, err := ep(context.Background(), nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestHystrixCircuit(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantOpen bool
	}{
		{"not found never opens", errs.New(errs.NotFound, "no such product"), false},
		{"invalid never opens", errs.New(errs.Invalid, "bad input"), false},
		{"conflict never opens", errs.New(errs.Conflict, "duplicate"), false},
		{"unavailable opens", errs.Wrap(errors.New("connection refused"), errs.Unavailable, "down"), true},
		{"internal opens", errors.New("boom"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := breaker.NewHystrix(uniqueName(t), breaker.Settings{VolumeThreshold: 5, SleepWindow: time.Minute})
			var calls atomic.Int64
			ep := breaker.Middleware(h)(func(context.Context, any) (any, error) {
				calls.Add(1)
				return nil, tt.err
			})

			// Keep calling, as real traffic would, until the circuit rejects
			// a call or has had ample opportunity to.
			var rejected error
			for i := 0; i < 200 && rejected == nil; i++ {
				before := calls.Load()
				_, err := ep(context.Background(), nil)
				if calls.Load() == before {
					rejected = err
					break
				}
				if err != tt.err {
					t.Fatalf("call %d: error %v, want %v unchanged", i, err, tt.err)
				}
				time.Sleep(time.Millisecond)
			}

			if !tt.wantOpen {
				if rejected != nil {
					t.Fatalf("circuit rejected a call after %d business errors: %v", calls.Load(), rejected)
				}
				if h.Open() {
					t.Fatal("Open() = true after business errors only")
				}
				return
			}

			if rejected == nil {
				t.Fatalf("circuit still closed after %d failures", calls.Load())
			}
			if !h.Open() {
				t.Error("Open() = false after a rejected call")
			}
			// While open, calls fail fast without reaching the endpoint.
			before := calls.Load()
			for range 10 {
				start := time.Now()
				_, err := ep(context.Background(), nil)
				if took := time.Since(start); took > 100*time.Millisecond {
					t.Errorf("rejection took %v, want fast", took)
				}
				checkUnavailable(t, err, "dependency unavailable: circuit open", time.Minute)
			}
			if got := calls.Load() - before; got != 0 {
				t.Errorf("endpoint called %d times while the circuit was open, want 0", got)
			}
		})
	}
}

func checkUnavailable(t *testing.T, err error, wantMsg string, wantRetryAfter time.Duration) {
	t.Helper()
	if got := errs.KindOf(err); err == nil || got != errs.Unavailable {
		t.Fatalf("error %v has kind %v, want unavailable", err, got)
	}
	if got := errs.Message(err); got != wantMsg {
		t.Errorf("message = %q, want %q", got, wantMsg)
	}
	if got := errs.RetryAfterOf(err); got != wantRetryAfter {
		t.Errorf("RetryAfter = %v, want %v", got, wantRetryAfter)
	}
}

func TestHystrixRecovers(t *testing.T) {
	h := breaker.NewHystrix(uniqueName(t), breaker.Settings{VolumeThreshold: 3, SleepWindow: 50 * time.Millisecond})
	var healthy atomic.Bool
	ep := breaker.Middleware(h)(func(context.Context, any) (any, error) {
		if healthy.Load() {
			return "ok", nil
		}
		return nil, errs.New(errs.Unavailable, "down")
	})

	opened := eventually(t, 2*time.Second, func() bool {
		_, _ = ep(context.Background(), nil)
		return h.Open()
	})
	if !opened {
		t.Fatal("circuit did not open")
	}

	healthy.Store(true)
	// After the sleep window one trial call gets through; its success closes
	// the circuit.
	closed := eventually(t, 2*time.Second, func() bool {
		resp, err := ep(context.Background(), nil)
		return err == nil && resp == "ok" && !h.Open()
	})
	if !closed {
		t.Fatal("circuit did not close after the dependency recovered")
	}
}

func TestHystrixMaxConcurrent(t *testing.T) {
	h := breaker.NewHystrix(uniqueName(t), breaker.Settings{MaxConcurrent: 2})
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int64
	ep := breaker.Middleware(h)(func(ctx context.Context, _ any) (any, error) {
		calls.Add(1)
		started <- struct{}{}
		<-release
		return "ok", nil
	})

	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := ep(context.Background(), nil)
			done <- err
		}()
	}
	<-started
	<-started

	_, err := ep(context.Background(), nil)
	checkUnavailable(t, err, "dependency overloaded", time.Second)
	if got := calls.Load(); got != 2 {
		t.Errorf("endpoint called %d times, want 2", got)
	}

	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("admitted call failed: %v", err)
		}
	}
}

func TestHystrixTimeoutCancelsCall(t *testing.T) {
	h := breaker.NewHystrix(uniqueName(t), breaker.Settings{Timeout: 50 * time.Millisecond})
	stopped := make(chan error, 1)
	ep := breaker.Middleware(h)(func(ctx context.Context, _ any) (any, error) {
		<-ctx.Done()
		stopped <- ctx.Err()
		return nil, ctx.Err()
	})

	start := time.Now()
	_, err := ep(context.Background(), nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("call took %v, want about the 50ms breaker timeout", took)
	}
	checkUnavailable(t, err, "dependency timed out", time.Second)

	// The abandoned call must be told to stop, or it would leak.
	select {
	case got := <-stopped:
		if !errors.Is(got, context.Canceled) {
			t.Errorf("abandoned call's context error = %v, want canceled", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("abandoned call was never cancelled")
	}
}

func TestHystrixCallerContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantMsg string
	}{
		{
			name: "deadline",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 30*time.Millisecond)
			},
			wantMsg: "request timed out",
		},
		{
			name: "cancelled",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(30*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantMsg: "request cancelled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := breaker.NewHystrix(uniqueName(t), breaker.Settings{})
			ep := breaker.Middleware(h)(func(ctx context.Context, _ any) (any, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			})
			ctx, cancel := tt.ctx(context.Background())
			defer cancel()
			_, err := ep(ctx, nil)
			checkUnavailable(t, err, tt.wantMsg, 0)
		})
	}
}

func TestHystrixReconfigure(t *testing.T) {
	name := uniqueName(t)
	h := breaker.NewHystrix(name, breaker.Settings{MaxConcurrent: 7, Timeout: time.Hour})
	h.Reconfigure(breaker.Settings{Timeout: 50 * time.Millisecond, MaxConcurrent: 99, VolumeThreshold: 3, ErrorPercent: 10, SleepWindow: time.Second})
	want := breaker.Settings{Timeout: 50 * time.Millisecond, MaxConcurrent: 7, VolumeThreshold: 3, ErrorPercent: 10, SleepWindow: time.Second}
	if got := h.Settings(); got != want {
		t.Errorf("Settings() = %+v, want %+v (MaxConcurrent kept)", got, want)
	}
	if got := hystrix.GetCircuitSettings()[name]; got == nil || got.RequestVolumeThreshold != 3 || got.ErrorPercentThreshold != 10 {
		t.Errorf("hystrix settings = %+v, want the new thresholds", got)
	}
	// The new timeout is in force for the next call.
	_, err := breaker.Middleware(h)(func(ctx context.Context, _ any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})(context.Background(), nil)
	checkUnavailable(t, err, "dependency timed out", time.Second)
}
