// Package composetest runs docker-compose.yml for real, as `make
// compose-test` does: it builds the images (from deploy/docker/offline on a
// machine without a registry), starts every service with a unique project
// name and waits for each health check, runs deploy/smoke/readme-flow.sh
// through the published gateway, checks the events (events_test.go: NATS
// healthy with JetStream, every service with -nats-url connected and the
// streams of those that publish created, an order paid by the payment
// service, the customer's mail in Mailpit), follows an order placed with a
// sampled traceparent into Jaeger (tracing_test.go: one trace with spans of
// the gateway, order, product, payment and notification, every span's
// parent in it; an unsampled request not recorded), then, under a stream
// of catalog reads and orders, kills a product container, restarts Consul,
// restarts NATS and cuts a product container off the network, prints the
// failed requests and the recovery time of each phase, checks the order and
// product databases against each other, and removes every container,
// network and volume it made.
//
// The test is behind the build tag composetest, so `go test ./...` does not
// start containers:
//
//	go test -tags composetest -count=1 -v ./deploy/composetest/
//
// KITSHOP_OFFLINE=1 uses the offline images, 0 the ordinary ones (pulled
// and built by compose), auto (the default) the ordinary ones when their
// bases are already in the engine or we cannot build the offline ones (not
// root), the offline ones otherwise. auto never probes a registry.
package composetest
