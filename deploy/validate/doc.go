// Package validate checks kitshop's deployment files without Docker or a
// cluster: docker-compose.yml and its offline override (through
// `docker-compose config`), the Kubernetes manifests (built with the
// kustomize API and decoded strictly into the Kubernetes API types; the NATS
// cluster's configuration also by `nats-server -t`), the Dockerfile and
// .dockerignore, and the Prometheus and Grafana files.
//
// It is a separate module so that kustomize and the Kubernetes API types stay
// out of the main module's dependencies. The package holds the loaders and
// parsers; the tests hold the rules (`cd deploy/validate && go test ./...`,
// or `make validate-deploy`). cmd/kustomize-build prints what kubectl would
// apply:
//
//	cd deploy/validate && go run ./cmd/kustomize-build ../k8s/overlays/local
package validate
