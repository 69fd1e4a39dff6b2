package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Provider is the payment provider: the one effect of the service outside
// its database. Both calls take an idempotency key, and a provider must
// honour it as Stripe does: a call repeating an earlier key returns the
// earlier call's result and moves no money again. That is what lets the
// service call it outside any transaction and simply call again after a
// crash or a lost answer.
//
// A declined charge is a result (ChargeResult.Succeeded false), not an
// error. An error means the call's outcome is unknown (the provider could
// not be reached, or ctx ended): the caller retries with the same key.
type Provider interface {
	// Charge charges req.AmountMinor to req.Method.
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// Refund refunds the charge made with req.ChargeKey in full.
	Refund(ctx context.Context, req RefundRequest) error
}

// ChargeRequest is one charge.
type ChargeRequest struct {
	// IdempotencyKey identifies the charge: the payment's id.
	IdempotencyKey string
	AmountMinor    int64
	Currency       string
	// Method is a test payment method (the Test* constants).
	Method string
}

// ChargeResult is a charge's outcome.
type ChargeResult struct {
	Succeeded bool
	// DeclineCode and Message say why a declined charge was declined.
	DeclineCode, Message string
}

// RefundRequest is one full refund.
type RefundRequest struct {
	// IdempotencyKey identifies the refund: "refund-" and the payment's id.
	IdempotencyKey string
	// ChargeKey is the idempotency key of the charge to refund.
	ChargeKey   string
	AmountMinor int64
	Currency    string
}

// RefundKey is the idempotency key of the refund of the payment id.
func RefundKey(id string) string { return "refund-" + id }

// The test payment methods the simulated provider knows, after Stripe's.
const (
	TestCardVisa     = "pm_card_visa"           // succeeds
	TestCardDeclined = "pm_card_chargeDeclined" // declined: card_declined
	TestCardSlow     = "pm_card_slow"           // succeeds after SimulatedOptions.SlowDelay
)

// Decline codes of the simulated provider.
const (
	DeclineCardDeclined         = "card_declined"
	DeclineInvalidPaymentMethod = "invalid_payment_method"
)

// DefaultSlowDelay is how long the simulated provider takes to charge
// TestCardSlow by default.
const DefaultSlowDelay = 3 * time.Second

// ErrKeyReused is the error of a call that repeats an idempotency key with
// other parameters: a bug of the caller, which no retry fixes.
var ErrKeyReused = errors.New("payment provider: idempotency key reused with other parameters")

// SimulatedOptions configure NewSimulatedProvider.
type SimulatedOptions struct {
	// SlowDelay is how long a charge of TestCardSlow takes; 0 means
	// DefaultSlowDelay, a negative value none.
	SlowDelay time.Duration
}

// Simulated is a payment provider that moves no money, for development and
// tests: it answers by the test payment method (TestCardVisa and
// TestCardSlow succeed, TestCardDeclined is declined with card_declined,
// any other method with invalid_payment_method) and keeps a ledger of its
// charges and refunds in memory, by idempotency key.
//
// The ledger dies with the process, so after a restart Refund accepts a
// charge key it has never seen: a real provider would remember the charge.
type Simulated struct {
	slow time.Duration

	mu      sync.Mutex
	charges map[string]*simCharge
	refunds map[string]RefundRequest
}

type simCharge struct {
	req    ChargeRequest
	result ChargeResult
}

var _ Provider = (*Simulated)(nil)

// NewSimulatedProvider returns a simulated provider with an empty ledger.
func NewSimulatedProvider(o SimulatedOptions) *Simulated {
	slow := o.SlowDelay
	switch {
	case slow == 0:
		slow = DefaultSlowDelay
	case slow < 0:
		slow = 0
	}
	return &Simulated{slow: slow, charges: map[string]*simCharge{}, refunds: map[string]RefundRequest{}}
}

// Charge implements Provider. A repeated key returns the first result at
// once, as Stripe replays a response; of two concurrent first calls with one
// key, one records the charge and the other returns its result.
func (p *Simulated) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if req.IdempotencyKey == "" || req.AmountMinor < 0 {
		return ChargeResult{}, fmt.Errorf("payment provider: a charge needs an idempotency key and an amount >= 0")
	}
	if res, ok, err := p.replay(req); ok || err != nil {
		return res, err
	}
	if req.Method == TestCardSlow && p.slow > 0 {
		t := time.NewTimer(p.slow)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ChargeResult{}, fmt.Errorf("payment provider: %w", ctx.Err()) // not charged
		case <-t.C:
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.charges[req.IdempotencyKey]; ok { // a concurrent call was first
		if c.req != req {
			return ChargeResult{}, ErrKeyReused
		}
		return c.result, nil
	}
	res := decide(req.Method)
	p.charges[req.IdempotencyKey] = &simCharge{req: req, result: res}
	return res, nil
}

// replay returns the result recorded for req's key, if any.
func (p *Simulated) replay(req ChargeRequest) (ChargeResult, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.charges[req.IdempotencyKey]
	switch {
	case !ok:
		return ChargeResult{}, false, nil
	case c.req != req:
		return ChargeResult{}, true, ErrKeyReused
	}
	return c.result, true, nil
}

// decide is the simulated provider's verdict on a payment method.
func decide(method string) ChargeResult {
	switch method {
	case TestCardVisa, TestCardSlow:
		return ChargeResult{Succeeded: true}
	case TestCardDeclined:
		return ChargeResult{DeclineCode: DeclineCardDeclined, Message: "Your card was declined."}
	}
	return ChargeResult{DeclineCode: DeclineInvalidPaymentMethod, Message: "No such payment method."}
}

// Refund implements Provider. A repeated key refunds nothing again. A
// charge that was declined, or for less than the refund, cannot be
// refunded.
func (p *Simulated) Refund(_ context.Context, req RefundRequest) error {
	if req.IdempotencyKey == "" || req.ChargeKey == "" {
		return fmt.Errorf("payment provider: a refund needs an idempotency key and a charge")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.refunds[req.IdempotencyKey]; ok {
		if prev != req {
			return ErrKeyReused
		}
		return nil
	}
	if c, ok := p.charges[req.ChargeKey]; ok && (!c.result.Succeeded || c.req.AmountMinor < req.AmountMinor || c.req.Currency != req.Currency) {
		return fmt.Errorf("payment provider: charge %s cannot be refunded", req.ChargeKey)
	}
	p.refunds[req.IdempotencyKey] = req
	return nil
}

// LedgerEntry is what the simulated provider recorded under one charge key.
type LedgerEntry struct {
	Charge   ChargeRequest
	Result   ChargeResult
	Refunded bool
}

// Ledger returns the recorded charges by idempotency key, for tests and
// inspection.
func (p *Simulated) Ledger() map[string]LedgerEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]LedgerEntry, len(p.charges))
	for k, c := range p.charges {
		out[k] = LedgerEntry{Charge: c.req, Result: c.result}
	}
	for _, r := range p.refunds {
		e := out[r.ChargeKey]
		e.Refunded = true
		out[r.ChargeKey] = e
	}
	return out
}
