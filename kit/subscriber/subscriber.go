package subscriber

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/transport"
	"github.com/go-kit/log"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/errs"
)

// DecodeFunc turns a message into the endpoint's request. An error means
// the message can never be handled: it is dead-lettered at once.
type DecodeFunc func(context.Context, jetstream.Msg) (any, error)

// BeforeFunc may derive the context from the message before decoding.
type BeforeFunc func(context.Context, jetstream.Msg) context.Context

// AfterFunc runs after the endpoint succeeded, before the ack.
type AfterFunc func(ctx context.Context, msg jetstream.Msg, response any)

// Headers the subscriber sets on a dead-lettered message, besides the
// original's headers. The original Nats-Msg-Id moves to MsgIDHeader: the
// dead letter's own is the original's plus "@" and the dead-letter subject,
// so that two consumers giving up on one event both keep their dead letter
// (JetStream would drop the second as a duplicate), while the same
// consumer dead-lettering twice still keeps one.
const (
	MsgIDHeader      = "Kitshop-Dead-Msg-Id"
	SubjectHeader    = "Kitshop-Dead-Subject"
	StreamHeader     = "Kitshop-Dead-Stream"
	StreamSeqHeader  = "Kitshop-Dead-Stream-Seq"
	DeliveriesHeader = "Kitshop-Dead-Deliveries"
	ErrorHeader      = "Kitshop-Dead-Error"
)

// Publisher is the part of jetstream.JetStream dead-lettering uses.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Subscriber handles JetStream messages with an endpoint. It is safe for
// concurrent use.
type Subscriber struct {
	e       endpoint.Endpoint
	dec     DecodeFunc
	before  []BeforeFunc
	after   []AfterFunc
	errH    transport.ErrorHandler
	max     uint64
	backoff func(attempt int) time.Duration
	dlq     Publisher
	dlqSubj string
	timeout time.Duration
	logger  log.Logger
	m       *counters
	span    SpanFunc
}

// Option configures a Subscriber.
type Option func(*Subscriber)

// Before adds a function run before decoding, in the order added.
func Before(f BeforeFunc) Option { return func(s *Subscriber) { s.before = append(s.before, f) } }

// After adds a function run after the endpoint succeeded, in the order added.
func After(f AfterFunc) Option { return func(s *Subscriber) { s.after = append(s.after, f) } }

// ErrorHandler sees every decode and endpoint error (default: none).
func ErrorHandler(h transport.ErrorHandler) Option { return func(s *Subscriber) { s.errH = h } }

// MaxDeliver sets on which delivery a failing message is dead-lettered
// instead of retried (default 5). Give the JetStream consumer a larger
// MaxDeliver (or none), or the server stops delivering it first and it is
// never dead-lettered.
func MaxDeliver(n int) Option {
	return func(s *Subscriber) {
		if n > 0 {
			s.max = uint64(n)
		}
	}
}

// Backoff sets the redelivery delay after the attempt-th failed delivery
// (attempt counts from 1). The default doubles from 1 s up to 1 min.
func Backoff(f func(attempt int) time.Duration) Option {
	return func(s *Subscriber) {
		if f != nil {
			s.backoff = f
		}
	}
}

// DeadLetter publishes poison messages, and messages that failed
// MaxDeliver times, to subject through js; a stream must capture it.
// Without it such messages are logged and terminated.
func DeadLetter(js Publisher, subject string) Option {
	return func(s *Subscriber) { s.dlq, s.dlqSubj = js, subject }
}

// Timeout bounds one delivery's handling, endpoint and dead-letter
// publish included (default 30 s). Keep it under the consumer's AckWait,
// or JetStream redelivers a message still in hand.
func Timeout(d time.Duration) Option {
	return func(s *Subscriber) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// Logger logs rejections, dead letters and failed acks.
func Logger(l log.Logger) Option { return func(s *Subscriber) { s.logger = l } }

// SpanFunc starts a span around one delivery's handling and returns the
// function that ends it with the delivery's error (nil when it was
// handled), such as kit/tracing.ConsumeEvent.
type SpanFunc func(context.Context, jetstream.Msg) (context.Context, func(error))

// Span traces each delivery with f.
func Span(f SpanFunc) Option { return func(s *Subscriber) { s.span = f } }

// Metrics counts into reg, by stream: kitshop_subscriber_consumed_total
// (with outcome "ok" or "rejected"), kitshop_subscriber_redeliveries_total,
// kitshop_subscriber_dead_letters_total, and the consumer's lag,
// kitshop_subscriber_lag_messages. Subscribers sharing reg share
// the counters.
func Metrics(reg prometheus.Registerer) Option {
	return func(s *Subscriber) { s.m = newCounters(reg) }
}

// New returns a Subscriber running e on the messages dec decodes.
func New(e endpoint.Endpoint, dec DecodeFunc, opts ...Option) *Subscriber {
	s := &Subscriber{
		e: e, dec: dec, max: 5, backoff: DefaultBackoff, timeout: 30 * time.Second,
		logger: log.NewNopLogger(),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// DefaultBackoff waits 1 s after the first failure, doubling up to 1 min.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 7 {
		return time.Minute
	}
	return min(time.Second<<(attempt-1), time.Minute)
}

// EventID returns the message's event id: its Nats-Msg-Id header, which
// kit/outbox sets to the event's id.
func EventID(msg jetstream.Msg) string {
	return msg.Headers().Get(jetstream.MsgIDHeader)
}

// Handle handles one message: decode, run the endpoint, and settle the
// message. Its signature fits jetstream.Consumer.Consume.
//
//   - success: Ack;
//   - decode error: the message is poison, dead-lettered at once;
//   - a business error (errs.Kind.Business): the event was rejected; Ack,
//     since redelivery cannot change the answer;
//   - any other error: NakWithDelay(backoff(deliveries)), until the
//     MaxDeliver-th delivery, which is dead-lettered.
//
// A dead-lettered message is terminated once the dead-letter publish is
// acknowledged; if that publish fails it is nak'ed and tried again.
func (s *Subscriber) Handle(msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if s.span == nil {
		s.handle(ctx, msg)
		return
	}
	ctx, end := s.span(ctx, msg)
	end(s.handle(ctx, msg))
}

// handle is Handle within the delivery's context; it returns the
// delivery's error, nil when the event was handled.
func (s *Subscriber) handle(ctx context.Context, msg jetstream.Msg) error {
	for _, f := range s.before {
		ctx = f(ctx, msg)
	}
	md, _ := msg.Metadata() // nil for a message not from a consumer
	var delivered uint64 = 1
	stream := ""
	if md != nil {
		delivered, stream = md.NumDelivered, md.Stream
		s.m.pending(md.Stream, md.Consumer, md.NumPending)
	}

	req, err := s.dec(ctx, msg)
	if err != nil {
		err = fmt.Errorf("subscriber: decode: %w", err)
		s.handleErr(ctx, err)
		s.deadLetter(ctx, msg, md, stream, delivered, err)
		return err
	}
	resp, err := s.e(ctx, req)
	switch {
	case err == nil:
		for _, f := range s.after {
			f(ctx, msg, resp)
		}
		s.settle(msg.Ack(), msg, "ack")
		s.m.consumed(stream, "ok")
	case errs.KindOf(err).Business():
		s.handleErr(ctx, err)
		s.logger.Log("msg", "event rejected", "subject", msg.Subject(), "event", EventID(msg), "err", err)
		s.settle(msg.Ack(), msg, "ack")
		s.m.consumed(stream, "rejected")
	case delivered >= s.max:
		s.handleErr(ctx, err)
		s.deadLetter(ctx, msg, md, stream, delivered, err)
	default:
		s.handleErr(ctx, err)
		s.settle(msg.NakWithDelay(s.backoff(int(delivered))), msg, "nak")
		s.m.redelivered(stream)
	}
	return err
}

func (s *Subscriber) handleErr(ctx context.Context, err error) {
	if s.errH != nil {
		s.errH.Handle(ctx, err)
	}
}

// deadLetter copies msg to the dead-letter subject, with the reason, and
// terminates it.
func (s *Subscriber) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, stream string, delivered uint64, cause error) {
	if s.dlq != nil {
		dead := nats.NewMsg(s.dlqSubj)
		dead.Data = msg.Data()
		for k, vs := range msg.Headers() {
			dead.Header[k] = append([]string(nil), vs...)
		}
		if id := EventID(msg); id != "" {
			dead.Header.Set(MsgIDHeader, id)
			dead.Header.Set(jetstream.MsgIDHeader, id+"@"+s.dlqSubj)
		}
		dead.Header.Set(SubjectHeader, msg.Subject())
		dead.Header.Set(StreamHeader, stream)
		if md != nil {
			dead.Header.Set(StreamSeqHeader, strconv.FormatUint(md.Sequence.Stream, 10))
		}
		dead.Header.Set(DeliveriesHeader, strconv.FormatUint(delivered, 10))
		dead.Header.Set(ErrorHeader, cause.Error())
		if _, err := s.dlq.PublishMsg(ctx, dead); err != nil {
			// Keep the message rather than lose it; the next delivery
			// dead-letters it again.
			s.logger.Log("msg", "dead-letter publish failed", "subject", msg.Subject(), "event", EventID(msg), "err", err)
			s.settle(msg.NakWithDelay(s.backoff(int(delivered))), msg, "nak")
			return
		}
	}
	s.logger.Log("msg", "event dead-lettered", "subject", msg.Subject(), "event", EventID(msg),
		"deliveries", delivered, "dead_letter_subject", s.dlqSubj, "err", cause)
	s.settle(msg.Term(), msg, "term")
	s.m.deadLettered(stream)
}

// settle logs a failed ack/nak/term: JetStream redelivers the message after
// AckWait, which the inbox makes harmless.
func (s *Subscriber) settle(err error, msg jetstream.Msg, what string) {
	if err != nil {
		s.logger.Log("msg", what+" failed", "subject", msg.Subject(), "event", EventID(msg), "err", err)
	}
}
