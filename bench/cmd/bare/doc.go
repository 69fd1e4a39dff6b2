// Command bare is kitbench's reference point: the least code that serves
// GET /api/v1/products/{id} from the product service's table, with the same
// columns and the same JSON, written with net/http and a pgx pool only. No
// kit, no go-kit, no middleware, no logging per request. Whatever the
// product service and the gateway measure below this handler is the price of
// what they add (validation, request ids, logging, rate limits, timeouts,
// routing, a second hop), which is the number kitbench reports.
//
// It only reads, so it may share the product service's database while the
// service runs; it never migrates or writes.
//
// Usage:
//
//	bare -addr 127.0.0.1:8090 -database-url postgres://kitshop:kitshop@127.0.0.1:55432/product
package main
