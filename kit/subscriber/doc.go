// Package subscriber is the consuming half of kit/outbox: a go-kit
// transport that runs an endpoint on JetStream messages, after go-kit's
// transport/nats and transport/amqp subscribers.
//
// Handle decodes a message, runs the endpoint and settles the message by
// what happened: success is acked; an undecodable message is poison and
// goes to the dead-letter subject at once; a business error (errs.Kind
// Business: invalid, not found, conflict, ...) means the event was
// rejected, which redelivery cannot change, so it is acked, logged and
// counted; any other error is nak'ed with a backoff, and on the
// MaxDeliver-th delivery the message is dead-lettered — copied to the
// dead-letter subject with its headers (the Nats-Msg-Id as MsgIDHeader) plus the
// original subject, stream sequence, delivery count and error — and
// terminated. Handle fits jetstream.Consumer.Consume:
//
//	sub := subscriber.New(ep, decode,
//		subscriber.DeadLetter(js, "dead.payments"), subscriber.Metrics(reg))
//	cc, err := consumer.Consume(sub.Handle)
//
// Give the JetStream consumer AckPolicy explicit, a MaxDeliver above the
// subscriber's (or -1), and an AckWait above the subscriber's Timeout.
//
// # Exactly-once effect
//
// JetStream delivers at least once: a message whose ack was lost comes
// again. The event id — the Nats-Msg-Id header, EventID — makes the effect
// happen once: the endpoint records the id in the inbox table
// (InboxSchema) with Once in the same transaction as the effect, and does
// nothing when the id is already there. The effect and the inbox row commit
// together or not at all:
//
//	func makeChargeEndpoint(pool *pgxpool.Pool) endpoint.Endpoint {
//		return func(ctx context.Context, request any) (any, error) {
//			req := request.(chargeRequest) // decoded, with req.EventID = subscriber.EventID(msg)
//			return nil, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
//				first, err := subscriber.Once(ctx, tx, "payment", req.EventID)
//				if err != nil || !first {
//					return err // a redelivery: already done
//				}
//				_, err = tx.Exec(ctx, `INSERT INTO charges (order_id, amount) VALUES ($1, $2)`,
//					req.OrderID, req.Amount)
//				return err
//			})
//		}
//	}
//
// Effects outside the database (an email, a call to another service) cannot
// join the transaction; make them idempotent on the event id instead.
package subscriber
