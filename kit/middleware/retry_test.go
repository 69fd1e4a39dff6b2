package middleware_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/middleware"
)

var (
	errDown     = errs.New(errs.Unavailable, "instance down")
	errNotFound = errs.New(errs.NotFound, "no such product")
	errInternal = errs.Wrap(errors.New("nil map"), errs.Internal, "")
	errConflict = errs.New(errs.Conflict, "duplicate order")
)

// script returns an endpoint that answers attempt i with results[i] (the
// last result repeats) and counts its calls.
func script(calls *int, results ...error) endpoint.Endpoint {
	return func(context.Context, any) (any, error) {
		err := results[min(*calls, len(results)-1)]
		*calls++
		if err != nil {
			return nil, err
		}
		return "ok", nil
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		attempts  int
		results   []error
		wantCalls int
		wantErr   error
	}{
		{"success first time", 3, []error{nil}, 1, nil},
		{"unavailable then success", 3, []error{errDown, errDown, nil}, 3, nil},
		{"gives up after attempts", 3, []error{errDown}, 3, errDown},
		{"not found never retried", 3, []error{errNotFound, nil}, 1, errNotFound},
		{"internal never retried", 3, []error{errInternal, nil}, 1, errInternal},
		{"conflict never retried", 3, []error{errConflict, nil}, 1, errConflict},
		{"zero attempts means one", 0, []error{errDown, nil}, 1, errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			ep := middleware.Retry(tt.attempts, time.Millisecond)(script(&calls, tt.results...))
			resp, err := ep(context.Background(), nil)
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if err != tt.wantErr {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && resp != "ok" {
				t.Errorf("response = %v, want ok", resp)
			}
		})
	}
}

func TestRetryStopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	calls := 0
	ep := middleware.Retry(10, 10*time.Second)(script(&calls, errDown))

	start := time.Now()
	_, err := ep(ctx, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("retry took %v after cancellation, want prompt", took)
	}
	if calls != 1 {
		t.Errorf("calls = %d, want 1", calls)
	}
	if err != errDown {
		t.Errorf("error = %v, want the last attempt's %v", err, errDown)
	}
}

func TestRetryBackoffGrows(t *testing.T) {
	calls := 0
	ep := middleware.Retry(3, 20*time.Millisecond)(script(&calls, errDown))
	start := time.Now()
	_, _ = ep(context.Background(), nil)
	// Waits are jittered within [10ms, 20ms] and then [20ms, 40ms].
	if took, least := time.Since(start), 30*time.Millisecond; took < least {
		t.Errorf("three attempts took %v, want at least %v of backoff", took, least)
	}
}

// fakeBalancer hands out its endpoints in turn and remembers which it gave.
type fakeBalancer struct {
	mu        sync.Mutex
	endpoints []endpoint.Endpoint
	next      int
	served    []int
}

func (b *fakeBalancer) Endpoint() (endpoint.Endpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.endpoints) == 0 {
		return nil, lb.ErrNoEndpoints
	}
	i := b.next % len(b.endpoints)
	b.next++
	b.served = append(b.served, i)
	return b.endpoints[i], nil
}

func answer(err error) endpoint.Endpoint {
	return func(context.Context, any) (any, error) {
		if err != nil {
			return nil, err
		}
		return "ok", nil
	}
}

func TestRetryBalanced(t *testing.T) {
	tests := []struct {
		name       string
		instances  []error // what each instance answers
		attempts   int
		wantServed []int
		wantOK     bool
		wantKind   errs.Kind // when !wantOK
		wantErr    error     // when !wantOK and the error must be passed through as is
	}{
		{"first instance fine", []error{nil, nil}, 3, []int{0}, true, 0, nil},
		{"dead instance skipped", []error{errDown, nil}, 3, []int{0, 1}, true, 0, nil},
		{"two dead instances skipped", []error{errDown, errDown, nil}, 3, []int{0, 1, 2}, true, 0, nil},
		{"all dead", []error{errDown, errDown, errDown}, 2, []int{0, 1}, false, errs.Unavailable, errDown},
		{"not found not retried", []error{errNotFound, nil}, 3, []int{0}, false, errs.NotFound, errNotFound},
		{"internal not retried", []error{errInternal, nil}, 3, []int{0}, false, errs.Internal, errInternal},
		{"no instances", nil, 3, nil, false, errs.Unavailable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBalancer{}
			for _, err := range tt.instances {
				b.endpoints = append(b.endpoints, answer(err))
			}
			ep := middleware.RetryBalanced(b, tt.attempts, time.Second)
			resp, err := ep(context.Background(), nil)

			if !equalInts(b.served, tt.wantServed) {
				t.Errorf("instances called = %v, want %v", b.served, tt.wantServed)
			}
			switch {
			case tt.wantOK:
				if err != nil || resp != "ok" {
					t.Errorf("got (%v, %v), want (ok, nil)", resp, err)
				}
			case err == nil || errs.KindOf(err) != tt.wantKind:
				t.Errorf("error = %v, want kind %v", err, tt.wantKind)
			case tt.wantErr != nil && err != tt.wantErr:
				t.Errorf("error = %v, want %v unchanged", err, tt.wantErr)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryBalancedRoundRobin(t *testing.T) {
	// The real go-kit pieces: two fixed instances, one of them dead.
	var mu sync.Mutex
	hits := map[string]int{}
	instance := func(name string, err error) endpoint.Endpoint {
		return func(context.Context, any) (any, error) {
			mu.Lock()
			hits[name]++
			mu.Unlock()
			if err != nil {
				return nil, err
			}
			return name, nil
		}
	}
	endpointer := sd.FixedEndpointer{instance("dead", errDown), instance("alive", nil)}
	ep := middleware.RetryBalanced(lb.NewRoundRobin(endpointer), 2, time.Second)

	const calls = 10
	for i := range calls {
		resp, err := ep(context.Background(), nil)
		if err != nil || resp != "alive" {
			t.Fatalf("call %d: got (%v, %v), want (alive, nil)", i, resp, err)
		}
	}
	if got, want := hits["alive"], calls; got != want {
		t.Errorf("alive instance served %d calls, want %d", got, want)
	}
	if got := hits["dead"]; got < 1 || got > calls {
		t.Errorf("dead instance tried %d times, want between 1 and %d", got, calls)
	}
}

func TestRetryBalancedTimeout(t *testing.T) {
	b := &fakeBalancer{endpoints: []endpoint.Endpoint{slow, slow}}
	ep := middleware.RetryBalanced(b, 5, 40*time.Millisecond)

	start := time.Now()
	_, err := ep(context.Background(), nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("call took %v, want about 40ms", took)
	}
	if got, want := errs.Message(err), "request timed out"; !errs.Is(err, errs.Unavailable) || got != want {
		t.Errorf("error = %v, want unavailable %q", err, want)
	}
	if got := len(b.served); got != 1 {
		t.Errorf("instances tried = %d, want 1 (the deadline covers all attempts)", got)
	}
}

func TestRetryBalancedCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := &fakeBalancer{endpoints: []endpoint.Endpoint{answer(nil)}}
	_, err := middleware.RetryBalanced(b, 3, time.Second)(ctx, nil)
	if !errs.Is(err, errs.Unavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want unavailable caused by cancellation", err)
	}
	if len(b.served) != 0 {
		t.Errorf("instances called = %v, want none", b.served)
	}
}

// lateBalancer has no endpoint until its first n calls have been answered,
// like a go-kit endpointer still filling its cache.
type lateBalancer struct {
	mu    sync.Mutex
	calls int
	n     int
}

func (b *lateBalancer) Endpoint() (endpoint.Endpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.calls <= b.n {
		return nil, lb.ErrNoEndpoints
	}
	return answer(nil), nil
}

func TestRetryBalancedWaitsForInstances(t *testing.T) {
	b := &lateBalancer{n: 1}
	start := time.Now()
	resp, err := middleware.RetryBalanced(b, 3, time.Second)(context.Background(), nil)
	if err != nil || resp != "ok" {
		t.Fatalf("got (%v, %v), want the instance that appeared", resp, err)
	}
	if took := time.Since(start); took < middleware.NoInstanceWait {
		t.Errorf("took %v, want a pause of at least %v before looking again", took, middleware.NoInstanceWait)
	}

	// No instance ever: the attempts look again, then give up quickly.
	b = &lateBalancer{n: 100}
	start = time.Now()
	_, err = middleware.RetryBalanced(b, 3, time.Second)(context.Background(), nil)
	if !errs.Is(err, errs.Unavailable) || errs.Message(err) != "no instance available" {
		t.Errorf("error = %v, want Unavailable \"no instance available\"", err)
	}
	if b.calls != 3 {
		t.Errorf("looked for an instance %d times, want 3", b.calls)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("gave up after %v, want quickly", took)
	}
}
