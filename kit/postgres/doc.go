// Package postgres holds what every kitshop service does with PostgreSQL
// (through pgx): connect at startup, apply its embedded migrations, run a
// unit of work in one transaction, recognise constraint violations and report
// database health.
//
// Use Open in main, even when the database starts after the service (as in
// docker compose): it waits for the server instead of failing. Use Migrate
// right after, with the service's embedded goose migrations; it is safe when
// several instances start at once. Use InTx for any service call that writes
// more than one row, and UniqueViolation / CheckViolation to turn the
// schema's constraints into Conflict or Invalid errors, so the schema, not
// Go code, is the final word on integrity. Use Listen to follow a
// LISTEN/NOTIFY channel over a connection of its own, with reconnection and
// callbacks that say when notifications may have been missed: the product
// service keeps its read cache correct across instances with it.
package postgres
