// Package order is the order service: customers place orders for catalog
// products, read and cancel them; stock is reserved in the product service
// so that nothing is ever oversold.
//
// The package reads top to bottom as its layers: service.go (the domain:
// types, the Service interface and its implementation), saga.go (reserving
// and releasing stock for an order), validate.go (the rules on input),
// catalog.go (what
// the service needs from the product service), catalog_grpc.go (that, over
// gRPC with discovery, retries and a circuit breaker), recovery.go (the loop
// that finishes sagas a crash or an outage interrupted), postgres.go (the
// Repository on Postgres), endpoint.go (go-kit endpoints),
// transport_http.go and transport_grpc.go (the two wire formats) and
// middleware.go (service middleware). cmd/order wires them together.
//
// # The saga
//
// Placing an order touches two databases, the order service's and the
// catalog's, so it cannot be one transaction. It is a saga of local
// transactions, each of which leaves a state the recovery loop can finish:
//
//  1. Price the lines: BatchGetProducts. Names, SKUs and prices come from
//     the catalog, never from the client. Nothing is written yet, so a
//     catalog outage costs nothing.
//  2. Insert the order as pending, with its lines and idempotency key.
//  3. ReserveStock(order id, lines): all or nothing in the catalog, and
//     idempotent per order id.
//  4. Confirmed if the reservation succeeded; rejected (nothing reserved) if
//     stock was short; failed with release_pending if the catalog could not
//     be reached: the reservation may or may not have happened, so a
//     ReleaseStock is owed, made at once if possible and by the recovery
//     loop otherwise. ReleaseStock leaves a tombstone, so a reservation that
//     was still on its way when the release arrived cannot land afterwards.
//
// A crash between 2 and 4 leaves a pending order: the recovery loop reserves
// again (a no-op if the first call got through) and confirms or rejects. A
// crash after a failed order is written but before its release leaves
// release_pending set: the loop releases. Every status change is a
// conditional update (WHERE status = the expected one), so the live request
// and the recovery loop can race without undoing each other.
package order
