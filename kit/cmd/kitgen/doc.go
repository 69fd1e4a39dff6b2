// Command kitgen adds a service to the kitshop repository, in the house
// layers and wired into every place a service has to be known:
//
//	go run ./kit/cmd/kitgen new inventory      (or: make service NAME=inventory)
//
// creates
//
//	inventory/                        service.go, endpoint.go, transport_http.go,
//	                                  transport_grpc.go, middleware.go, postgres.go
//	                                  and their tests (unit, Postgres, HTTP, gRPC)
//	inventory/cmd/inventory/          main.go and flags.go: the command on
//	                                  kit/app, wired like product's
//	proto/inventory/v1/               inventory.proto and the code protoc generates
//	migrations/inventory/00001_items.sql
//	deploy/local/services/inventory.json        the local stack (make run)
//	deploy/k8s/base/inventory.yaml, inventory-db.yaml
//
// and adds the service to docker-compose.yml, deploy/k8s/base/kustomization.yaml
// and deploy/k8s/overlays/local/kustomization.yaml by appending entries to
// their lists. The gateway, the Makefile, migrations.go and Prometheus need no
// change: they find services by convention (Consul registration, */cmd/*,
// migrations/*/*.sql, Consul service discovery).
//
// The example service keeps "items" (create, get, list; reads public, writes
// for admins) behind /api/v1/<name>. docs/adding-a-service.md explains the
// layers and how to grow them.
//
// The name must be 2 to 31 lower-case letters and digits starting with a
// letter, and must not be taken: not an existing directory or service, not a
// Go keyword or an identifier the generated code uses, not a reserved name
// (kit, gateway, proto, ...). kitgen plans every file first, checks them all,
// and only then writes; if writing fails midway it removes what it wrote and
// restores what it changed. It needs the go command and protoc (make
// deps-protoc installs it) and must run inside the kitshop repository.
//
// -dry-run lists the files without writing anything.
package main
