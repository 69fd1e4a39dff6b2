// Package postgres holds what every kitshop service does with PostgreSQL
// (through pgx): connect at startup, apply its embedded migrations, run a
// unit of work in one transaction, recognise constraint violations and report
// database health.
//
// Use Open in main, even when the database starts after the service (as in
// docker compose): it waits for the server instead of failing. Use Migrate
// right after, with the service's embedded goose migrations; it is safe when
// several instances start at once. Use InTx for any service call that writes
// more than one row, and a Classifier (built on UniqueViolation and
// CheckViolation) to turn what pgx returns into the errs vocabulary: a
// missing row, the schema's constraints as Conflict or Invalid errors (so
// the schema, not Go code, is the final word on integrity), an unreachable
// database as a 503, and anything else as Internal. Use Listen to follow a
// LISTEN/NOTIFY channel over a connection of its own, with reconnection and
// callbacks that say when notifications may have been missed: a service
// can keep a read cache correct across instances with it.
//
// When the database stops answering (paused, partitioned, its host gone),
// statements do not fail: they wait. Pass a Guard to Open (WithGuard) so
// that they fail fast instead: the Guard sees every call of the pool
// through pgx's tracer hooks and probes the server on a connection of its
// own; once a probe or a call goes unanswered it interrupts the calls in
// flight and fails later ones at once with errs.Unavailable (a 503 with
// Retry-After, see Unreachable), until a probe is answered again, a
// quarter of a second later by default. Business errors (no rows, a
// constraint, a statement_timeout) are answers and never trip it, nor
// does any failure while the server has answered another call within the
// probe's timeout: a busy server is slow, not gone.
// WithConnectTimeout, WithStatementTimeout and WithLockTimeout bound the
// rest: a handshake, a slow statement, a wait for a lock.
package postgres
