// Package payment is the payment service: it charges orders when the order
// service confirms them, refunds or voids them when they are cancelled, and
// lets an order's owner (and admins) read its payment.
//
// The package reads top to bottom as its layers: service.go (the domain:
// payments, the Service interface and its implementation), provider.go
// (the payment provider, and a simulated one), events.go (the streams, the
// durable consumer and the events the service publishes), postgres.go (the
// Repository on Postgres, with the inbox and the outbox), endpoint.go
// (go-kit endpoints), transport_http.go and transport_grpc.go (the API),
// transport_events.go (the order events, through kit/subscriber) and
// middleware.go (audit log, provider metrics). cmd/payment wires them
// together.
//
// # Exactly once
//
// JetStream delivers each order event at least once, to any instance, and
// the provider is outside the database, so no transaction covers a charge.
// Three things together make every order charged at most once and every
// outcome published exactly once:
//
//   - The payment row comes first. order.confirmed inserts a pending
//     payment (one per order: order_id is unique, the insert does nothing
//     if there is one) in a transaction of its own.
//   - The provider call is idempotent. It is made with no transaction open,
//     keyed by the payment's id ("refund-<id>" for a refund), so a
//     redelivery after a crash, or a concurrent delivery of the same
//     event, charges once and gets the same answer.
//   - The outcome commits with the inbox and the outbox. One transaction
//     records the event id in the inbox (kit/subscriber.Once), moves the
//     payment from pending (a conditional UPDATE) and adds payment.succeeded
//     or payment.failed to the outbox (kit/outbox), which the relay
//     publishes. An event seen before, or a payment already moved, changes
//     nothing and publishes nothing.
//
// A crash between the insert and the outcome leaves the payment pending and
// the message unacknowledged: JetStream redelivers it after AckWait, and
// the handler charges again with the same key.
//
// order.cancelled refunds a succeeded payment the same way (provider first,
// then inbox, status refunded and payment.refunded in one transaction). An
// order without a payment gets a voided one, so that an order.confirmed
// arriving late finds it and never charges. A pending payment is a charge
// in flight, maybe on another instance: the handler fails with a retryable
// error, the subscriber naks the message with a backoff, and it comes back
// once the charge is settled, to be refunded. Declined, refunded and voided
// payments need nothing.
//
// A message that is not an order event the service can store is poison:
// kit/subscriber dead-letters it at once (events.DeadLetterSubject
// "payment"). One that keeps failing is dead-lettered on its MaxDeliver-th
// delivery.
//
// # Reading payments
//
// GET /api/v1/payments?order_id=<uuid> (and its gRPC twin, ListPayments)
// needs an access token; the order's owner and admins get the payment,
// anyone else the 404 of an order without one, so nobody learns which
// orders other users have.
package payment
