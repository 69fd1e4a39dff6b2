// Package outbox publishes a service's domain events to NATS JetStream
// exactly when the database change that caused them commits: a
// transactional outbox.
//
// Writing to the database and then publishing loses the event when the
// process dies in between; publishing first announces a change that may
// roll back. Instead the service writes the event into an outbox table in
// the same transaction as the change (Add), and a Relay copies committed
// rows to JetStream afterwards. An event exists if and only if its change
// committed, and it is published at least once — as often as the relay
// retries — so every publish carries the event id as Nats-Msg-Id, and
// JetStream drops a repeat within the stream's duplicate window (two
// minutes by default). Consumers still see an event more than once if a
// retry comes later than that, so they should be idempotent on the id.
//
// The table: a service includes Schema in one of its own goose migrations
// (copy the constant's text into the migration, so the migration never
// changes under it). Its trigger NOTIFYs the relay on commit; the relay
// also polls, so a lost notification only delays an event.
//
// Order: events are published in the order of their seq column, which is
// the order of their inserts. Within one aggregate that is the commit order
// when writers of an aggregate serialize on it (lock its row, as any
// read-modify-write must, before Add). Several relays may run on one table
// (one per service instance): a transaction-level advisory lock lets one of
// them work at a time, which keeps the order without coordinating them
// otherwise. A relay that finds the lock taken stands by for a quarter of a
// second, deaf to the commits' notifications, rather than spend a
// transaction on each of them; the lock is held only during a pass, so a
// relay whose process is stopped between passes holds up the others for
// that quarter second at most.
//
// Throughput: the relay works on a connection of its own (not the pool's),
// claims a batch with BEGIN in one round trip and marks it with COMMIT in
// another. With a jetstream.JetStream (an AsyncPublisher) it publishes the
// batch in waves: each wave holds events of distinct aggregates, sent
// without waiting, in seq order, and its acknowledgements are awaited
// together. The next event of an aggregate is sent only once the previous
// one is stored, and the first failed wave ends the batch, so a later event
// of an aggregate never overtakes an earlier one, even when a lost
// connection drops one message and lets the next through. Events of one
// aggregate thus go one acknowledgement at a time; a batch over many
// aggregates goes in one. A plain Publisher publishes one event at a time.
//
// Published events are deleted after a retention (WithRetention, 24 h), so
// the table stays the size of a day's events.
//
// While the broker is down, Add keeps working and the backlog grows;
// Backlog reports its size and age (and WithRegisterer exports them as
// gauges) and the relay delivers it once the broker is back.
package outbox
