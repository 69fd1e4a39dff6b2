package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// call is one Allow at an offset from t0 and its expected outcome.
type call struct {
	at       time.Duration
	wantOK   bool
	wantWait time.Duration
}

func TestTokenBucketAllowAt(t *testing.T) {
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		calls     []call
	}{
		{
			name: "burst then refill", perSecond: 1, burst: 2,
			calls: []call{
				{0, true, 0},
				{0, true, 0},
				{0, false, time.Second},
				{500 * time.Millisecond, false, 500 * time.Millisecond},
				{time.Second, true, 0},
				{time.Second, false, time.Second},
			},
		},
		{
			name: "fast rate short wait", perSecond: 100, burst: 1,
			calls: []call{
				{0, true, 0},
				{0, false, 10 * time.Millisecond},
				{10 * time.Millisecond, true, 0},
			},
		},
		{
			name: "slow rate long wait", perSecond: 0.1, burst: 1,
			calls: []call{
				{0, true, 0},
				{time.Second, false, 9 * time.Second},
			},
		},
		{
			name: "zero rate means unlimited", perSecond: 0, burst: 0,
			calls: []call{{0, true, 0}, {0, true, 0}, {0, true, 0}},
		},
		{
			name: "zero burst treated as one", perSecond: 1, burst: 0,
			calls: []call{{0, true, 0}, {0, false, time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ratelimit.NewTokenBucket(tt.perSecond, tt.burst)
			for i, c := range tt.calls {
				gotOK, gotWait := b.AllowAt(t0.Add(c.at))
				if gotOK != c.wantOK || !near(gotWait, c.wantWait) {
					t.Errorf("call %d at +%v: got (%v, %v), want (%v, %v)", i, c.at, gotOK, gotWait, c.wantOK, c.wantWait)
				}
			}
		})
	}
}

// near allows for float rounding in the rate computations.
func near(got, want time.Duration) bool {
	d := got - want
	return -time.Microsecond <= d && d <= time.Microsecond
}

func TestRoundUp(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, time.Second},
		{-time.Second, time.Second},
		{time.Nanosecond, time.Second},
		{999 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{time.Second + time.Nanosecond, 2 * time.Second},
		{2 * time.Second, 2 * time.Second},
		{59500 * time.Millisecond, 60 * time.Second},
	}
	for _, tt := range tests {
		if got := ratelimit.RoundUp(tt.in); got != tt.want {
			t.Errorf("RoundUp(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	err := ratelimit.Error(1500 * time.Millisecond)
	if got, want := errs.KindOf(err), errs.RateLimited; got != want {
		t.Errorf("kind = %v, want %v", got, want)
	}
	if got, want := errs.RetryAfterOf(err), 2*time.Second; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	if got, want := errs.Message(err), "too many requests"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}

func TestMiddleware(t *testing.T) {
	calls := 0
	ep := ratelimit.Middleware(ratelimit.NewTokenBucket(0.5, 2))(func(context.Context, any) (any, error) {
		calls++
		return "ok", nil
	})

	tests := []struct {
		name           string
		wantErr        bool
		wantRetryAfter time.Duration
	}{
		{"first of burst", false, 0},
		{"second of burst", false, 0},
		{"rejected", true, 2 * time.Second},
		{"still rejected", true, 2 * time.Second},
	}
	for _, tt := range tests {
		before := calls
		resp, err := ep(context.Background(), nil)
		if tt.wantErr {
			if !errs.Is(err, errs.RateLimited) {
				t.Fatalf("%s: err = %v, want rate_limited", tt.name, err)
			}
			if got := errs.RetryAfterOf(err); got != tt.wantRetryAfter {
				t.Errorf("%s: RetryAfter = %v, want %v", tt.name, got, tt.wantRetryAfter)
			}
			if calls != before {
				t.Errorf("%s: endpoint called although rejected", tt.name)
			}
			continue
		}
		if err != nil || resp != "ok" {
			t.Errorf("%s: got (%v, %v), want (ok, nil)", tt.name, resp, err)
		}
	}
}

func BenchmarkTokenBucketAllow(b *testing.B) {
	tb := ratelimit.NewTokenBucket(1e9, 1e6)
	b.ReportAllocs()
	for b.Loop() {
		tb.Allow()
	}
}

func TestTokenBucketSetRate(t *testing.T) {
	now := time.Now()
	b := ratelimit.NewTokenBucket(100, 100)
	b.SetRate(1, 1)
	if ok, _ := b.AllowAt(now); !ok {
		t.Fatal("first call refused")
	}
	if ok, _ := b.AllowAt(now); ok {
		t.Error("second call allowed after lowering the burst to 1")
	}
}
