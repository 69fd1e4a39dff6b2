package subscriber_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/subscriber"
)

// TestSpanSeesEveryDelivery checks that the span function wraps each
// delivery: the endpoint runs on its context and the span ends with the
// delivery's outcome (nil, a business error, a failure, a poison message).
func TestSpanSeesEveryDelivery(t *testing.T) {
	type spanKey struct{}
	tests := []struct {
		name    string
		id      string
		data    string
		epErr   error
		wantErr string
	}{
		{"handled", "ev-ok", "hello", nil, ""},
		{"rejected", "ev-no", "hello", errs.New(errs.Invalid, "no"), "no"},
		{"failed", "ev-fail", "hello", errs.New(errs.Unavailable, "down"), "down"},
		{"poison", "ev-poison", "", nil, "subscriber: decode: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			ended := make(chan error, 10)
			sawSpan := make(chan bool, 10)
			sub := subscriber.New(
				func(ctx context.Context, _ any) (any, error) {
					sawSpan <- ctx.Value(spanKey{}) == tt.id
					return nil, tt.epErr
				},
				func(ctx context.Context, msg jetstream.Msg) (any, error) {
					if len(msg.Data()) == 0 {
						return nil, errors.New("empty")
					}
					return string(msg.Data()), nil
				},
				subscriber.MaxDeliver(1),
				subscriber.DeadLetter(e.js, e.dlq),
				subscriber.Span(func(ctx context.Context, msg jetstream.Msg) (context.Context, func(error)) {
					return context.WithValue(ctx, spanKey{}, subscriber.EventID(msg)), func(err error) { ended <- err }
				}))
			cc, err := e.consumer.Consume(sub.Handle)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Stop()
			e.publish(t, "a", tt.id, tt.data)
			select {
			case err := <-ended:
				got := ""
				if err != nil {
					got = errs.Message(err)
					if errs.KindOf(err) == errs.Internal {
						got = err.Error()
					}
				}
				if got != tt.wantErr {
					t.Errorf("span ended with %q, want %q", got, tt.wantErr)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the span never ended")
			}
			if tt.data != "" && !<-sawSpan {
				t.Error("the endpoint did not run on the span's context")
			}
		})
	}
}
