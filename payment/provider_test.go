package payment_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/payment"
)

func TestSimulatedCharge(t *testing.T) {
	tests := []struct {
		method string
		want   payment.ChargeResult
	}{
		{payment.TestCardVisa, payment.ChargeResult{Succeeded: true}},
		{payment.TestCardSlow, payment.ChargeResult{Succeeded: true}},
		{payment.TestCardDeclined, payment.ChargeResult{DeclineCode: "card_declined", Message: "Your card was declined."}},
		{"pm_card_amex", payment.ChargeResult{DeclineCode: "invalid_payment_method", Message: "No such payment method."}},
		{"", payment.ChargeResult{DeclineCode: "invalid_payment_method", Message: "No such payment method."}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			p := payment.NewSimulatedProvider(payment.SimulatedOptions{SlowDelay: time.Millisecond})
			req := payment.ChargeRequest{IdempotencyKey: "k1", AmountMinor: 100, Currency: "EUR", Method: tt.method}
			got, err := p.Charge(context.Background(), req)
			if err != nil || got != tt.want {
				t.Fatalf("Charge = %+v, %v; want %+v", got, err, tt.want)
			}
			// The same key replays the result and charges nothing more.
			again, err := p.Charge(context.Background(), req)
			if err != nil || again != tt.want {
				t.Errorf("repeated Charge = %+v, %v; want %+v", again, err, tt.want)
			}
			if l := p.Ledger(); len(l) != 1 || l["k1"].Charge != req || l["k1"].Result != tt.want {
				t.Errorf("ledger = %+v, want the one charge", l)
			}
		})
	}
}

func TestSimulatedChargeIsIdempotentUnderConcurrency(t *testing.T) {
	p := payment.NewSimulatedProvider(payment.SimulatedOptions{SlowDelay: 20 * time.Millisecond})
	req := payment.ChargeRequest{IdempotencyKey: "k", AmountMinor: 100, Currency: "EUR", Method: payment.TestCardSlow}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res, err := p.Charge(context.Background(), req); err != nil || !res.Succeeded {
				t.Errorf("Charge = %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	if l := p.Ledger(); len(l) != 1 {
		t.Errorf("ledger has %d charges, want 1", len(l))
	}
}

func TestSimulatedRefusesReusedKeys(t *testing.T) {
	p := payment.NewSimulatedProvider(payment.SimulatedOptions{})
	ctx := context.Background()
	req := payment.ChargeRequest{IdempotencyKey: "k", AmountMinor: 100, Currency: "EUR", Method: payment.TestCardVisa}
	if _, err := p.Charge(ctx, req); err != nil {
		t.Fatal(err)
	}
	other := req
	other.AmountMinor = 200
	if _, err := p.Charge(ctx, other); !errors.Is(err, payment.ErrKeyReused) {
		t.Errorf("Charge with another amount = %v, want ErrKeyReused", err)
	}
	refund := payment.RefundRequest{IdempotencyKey: payment.RefundKey("k"), ChargeKey: "k", AmountMinor: 100, Currency: "EUR"}
	if err := p.Refund(ctx, refund); err != nil {
		t.Fatal(err)
	}
	if err := p.Refund(ctx, refund); err != nil {
		t.Errorf("repeated Refund = %v", err)
	}
	refund.AmountMinor = 50
	if err := p.Refund(ctx, refund); !errors.Is(err, payment.ErrKeyReused) {
		t.Errorf("Refund with another amount = %v, want ErrKeyReused", err)
	}
	if !p.Ledger()["k"].Refunded {
		t.Error("ledger: charge not refunded")
	}
}

func TestSimulatedRefundRules(t *testing.T) {
	p := payment.NewSimulatedProvider(payment.SimulatedOptions{})
	ctx := context.Background()
	if _, err := p.Charge(ctx, payment.ChargeRequest{IdempotencyKey: "declined", AmountMinor: 100, Currency: "EUR", Method: payment.TestCardDeclined}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Charge(ctx, payment.ChargeRequest{IdempotencyKey: "paid", AmountMinor: 100, Currency: "EUR", Method: payment.TestCardVisa}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     payment.RefundRequest
		wantErr bool
	}{
		{"declined charge", payment.RefundRequest{IdempotencyKey: "r1", ChargeKey: "declined", AmountMinor: 100, Currency: "EUR"}, true},
		{"more than charged", payment.RefundRequest{IdempotencyKey: "r2", ChargeKey: "paid", AmountMinor: 101, Currency: "EUR"}, true},
		{"other currency", payment.RefundRequest{IdempotencyKey: "r3", ChargeKey: "paid", AmountMinor: 100, Currency: "USD"}, true},
		{"no key", payment.RefundRequest{ChargeKey: "paid", AmountMinor: 100, Currency: "EUR"}, true},
		// The ledger dies with the process: a charge from before a
		// restart is taken on trust.
		{"unknown charge", payment.RefundRequest{IdempotencyKey: "r4", ChargeKey: "before-restart", AmountMinor: 100, Currency: "EUR"}, false},
		{"full refund", payment.RefundRequest{IdempotencyKey: "r5", ChargeKey: "paid", AmountMinor: 100, Currency: "EUR"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Refund(ctx, tt.req); (err != nil) != tt.wantErr {
				t.Errorf("Refund = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestSimulatedSlowCardHonoursContext: a charge abandoned mid-way charges
// nothing, so the retry with the same key is the first charge.
func TestSimulatedSlowCardHonoursContext(t *testing.T) {
	p := payment.NewSimulatedProvider(payment.SimulatedOptions{SlowDelay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := payment.ChargeRequest{IdempotencyKey: "k", AmountMinor: 100, Currency: "EUR", Method: payment.TestCardSlow}
	begin := time.Now()
	if _, err := p.Charge(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Charge = %v, want the context's deadline", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Charge took %v after its deadline", took)
	}
	if l := p.Ledger(); len(l) != 0 {
		t.Errorf("ledger = %+v, want nothing charged", l)
	}
}

func TestInstrumentProvider(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := payment.InstrumentProvider(reg)(payment.NewSimulatedProvider(payment.SimulatedOptions{}))
	ctx := context.Background()
	for i, method := range []string{payment.TestCardVisa, payment.TestCardVisa, payment.TestCardDeclined} {
		if _, err := p.Charge(ctx, payment.ChargeRequest{IdempotencyKey: string(rune('a' + i)), AmountMinor: 1, Currency: "EUR", Method: method}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Charge(ctx, payment.ChargeRequest{Method: payment.TestCardVisa}); err == nil {
		t.Fatal("Charge without a key succeeded")
	}
	if err := p.Refund(ctx, payment.RefundRequest{IdempotencyKey: "r", ChargeKey: "a", AmountMinor: 1, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		op, outcome string
		want        uint64
	}{
		{"charge", "succeeded", 2}, {"charge", "declined", 1}, {"charge", "error", 1}, {"refund", "succeeded", 1},
	} {
		calls, observed := providerMetrics(t, reg, tt.op, tt.outcome)
		if calls != float64(tt.want) || observed != tt.want {
			t.Errorf("%s/%s: %v calls, %d observed durations; want %d", tt.op, tt.outcome, calls, observed, tt.want)
		}
	}
}

// providerMetrics returns the provider's call count and the number of
// durations observed for op and outcome.
func providerMetrics(t *testing.T, reg *prometheus.Registry, op, outcome string) (calls float64, observed uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operation"] != op || labels["outcome"] != outcome {
				continue
			}
			switch mf.GetName() {
			case "kitshop_payment_provider_calls_total":
				calls = m.GetCounter().GetValue()
			case "kitshop_payment_provider_duration_seconds":
				observed = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return calls, observed
}
