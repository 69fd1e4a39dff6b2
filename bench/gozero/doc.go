// Command gozero-peer is kitbench's go-zero peer: GET /api/v1/products/{id}
// served the way a go-zero user would write it, a rest server with the
// route /api/v1/products/:id and go-zero's sqlx over its postgres driver,
// with go-zero's default middlewares on. It runs the bare handler's query
// (bench/cmd/bare) and sends the same bytes, so kitbench can put a
// mainstream toolkit's price beside kitshop's, both against the same limit.
//
// It is a module of its own, so go-zero's dependencies stay out of
// kitshop's go.mod and `go build ./...` at the root does not see it. `make
// bench` builds it into bin/gozero-peer.
//
// It only reads, so it may share the product service's database while the
// service runs; it never migrates or writes.
//
// Usage:
//
//	gozero-peer -addr 127.0.0.1:8091 -dev-addr 127.0.0.1:6060 -database-url postgres://kitshop:kitshop@127.0.0.1:55432/product
package main
