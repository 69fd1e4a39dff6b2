# kitshop: build, test and run the local stack. `make help` lists the targets.
#
# Every target installs or builds what it needs first (`deps`), and does
# nothing when it is already there, so `make test` and `make run` work on a
# fresh clone and are quick on the second call.

SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

GO    ?= go
GOFMT  = $(shell $(GO) env GOROOT)/bin/gofmt
BIN   := bin
RUN   := .run

# go test knobs: `make test PKGS=./kit/... RACE=` runs a subset without -race.
PKGS       ?= ./...
RACE       ?= -race
TEST_FLAGS ?=
TEST_TIMEOUT ?= 30m

# Every main package under <dir>/cmd/<name>/, so a new service's command is
# built without touching this file. deploy/validate is a module of its own
# (see validate-deploy), not part of this build.
CMDS = $(sort $(patsubst %/main.go,./%,$(filter-out deploy/validate/%,$(wildcard */cmd/*/main.go */*/cmd/*/main.go))))
# Go sources we own (generated protobuf code is left as protoc wrote it).
GO_FILES = $(shell find . -name '*.go' -not -name '*.pb.go' -not -path './.git/*' -not -path './$(BIN)/*' -not -path './$(RUN)/*')
PROTO_FILES = $(shell find proto -name '*.proto' 2>/dev/null)

# Where kitshop-local keeps its cluster when running as root (see
# deploy/local.DefaultPostgresDataDir): /tmp/kitshop-<hash of the repo path>.
ROOT_DATA_DIR = /tmp/kitshop-$(shell printf '%s' '$(CURDIR)' | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-8)

# apt_install installs Debian packages, refreshing the package lists only
# when the install fails without them (a fresh machine has none).
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0
define apt_install
{ $(APT_GET) install --no-install-recommends $(1) || { $(APT_GET) update && $(APT_GET) install --no-install-recommends $(1); }; }
endef
# proto_include prints the folder holding google/protobuf/timestamp.proto, or
# nothing. Debian's protobuf-compiler only recommends libprotobuf-dev, which
# ships these files, so protoc alone is not enough.
define proto_include
for d in /usr/include /usr/local/include; do [ -f $$d/google/protobuf/timestamp.proto ] && { echo $$d; break; }; done; true
endef
# can_apt is true when we may install system packages ourselves.
can_apt = [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1

.PHONY: help
help: ## show this help
	@echo "usage: make <target>"
	@echo
	@awk 'BEGIN { FS = ":.*## " } \
		/^##@/ { printf "\n%s:\n", substr($$0, 5) } \
		/^[a-zA-Z_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "variables: PKGS=$(PKGS) RACE=$(RACE) TEST_FLAGS=$(TEST_FLAGS) TEST_TIMEOUT=$(TEST_TIMEOUT)"

##@ setup

.PHONY: deps
deps: deps-postgres deps-protoc deps-chromium $(BIN)/consul $(BIN)/nats-server $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc deps-optional ## install/build everything the tests and the local stack need

.PHONY: deps-postgres
deps-postgres: # PostgreSQL server binaries (initdb, postgres) for tests and make run
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || [ -n "$${KITSHOP_PG_BINDIR:-}" ]; then \
		exit 0; \
	elif $(can_apt); then \
		echo "==> installing PostgreSQL (apt-get install postgresql)"; \
		$(call apt_install,postgresql); \
	else \
		echo "error: PostgreSQL server binaries (initdb, postgres) not found." >&2; \
		echo "       Install them (Debian/Ubuntu: sudo apt-get install postgresql) or set KITSHOP_PG_BINDIR." >&2; \
		exit 1; \
	fi

.PHONY: deps-protoc
deps-protoc: # protoc and its well-known types (google/protobuf/*.proto), for make proto
	@if command -v protoc >/dev/null 2>&1 && [ -n "$$($(call proto_include))" ]; then \
		exit 0; \
	elif $(can_apt); then \
		echo "==> installing protoc and its includes (apt-get install protobuf-compiler libprotobuf-dev)"; \
		$(call apt_install,protobuf-compiler libprotobuf-dev); \
	else \
		echo "error: protoc or its standard includes not found." >&2; \
		echo "       Install them (Debian/Ubuntu: sudo apt-get install protobuf-compiler libprotobuf-dev)." >&2; \
		exit 1; \
	fi

.PHONY: deps-chromium
deps-chromium: # Debian's chromium, which the storefront's browser test drives headless (chromedp)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
		exit 0; \
	elif $(can_apt); then \
		echo "==> installing chromium (apt-get install chromium), for the storefront's browser test"; \
		$(call apt_install,chromium); \
	else \
		echo "error: chromium not found; the storefront's browser test (deploy/local TestStorefront) drives it." >&2; \
		echo "       Install it (Debian: sudo apt-get install chromium; Ubuntu: chromium-browser)." >&2; \
		exit 1; \
	fi

.PHONY: deps-optional
deps-optional: # wrk (benchmarks) and docker-compose (compose file checks); never fatal
	@for tool in wrk docker-compose; do \
		command -v $$tool >/dev/null 2>&1 && continue; \
		if $(can_apt); then \
			echo "==> installing $$tool (apt-get install $$tool)"; \
			$(call apt_install,$$tool) || echo "warning: could not install $$tool; only benchmarks/compose checks need it" >&2; \
		else \
			echo "warning: $$tool not found; only benchmarks/compose checks need it" >&2; \
		fi; \
	done

# Consul comes from PATH when installed there, otherwise it is built from the
# version pinned in tools/consul (a separate module, so its many dependencies
# stay out of ours). The build takes several minutes, once.
$(BIN)/consul: tools/consul/go.mod tools/consul/go.sum
	@mkdir -p $(BIN)
	@if path=$$(command -v consul 2>/dev/null) && [ "$$path" != "$(CURDIR)/$@" ]; then \
		echo "==> copying $$path to $@"; \
		cp "$$path" $@.tmp && mv $@.tmp $@; \
	else \
		echo "==> building Consul from tools/consul into $@ (several minutes, done once)"; \
		cd tools/consul && $(GO) build -o $(CURDIR)/$@.tmp github.com/hashicorp/consul && mv $(CURDIR)/$@.tmp $(CURDIR)/$@; \
	fi

# nats-server (JetStream, for the outbox relay's tests) comes from PATH when
# installed there, otherwise it is built from the version pinned in
# tools/nats, a module of its own like tools/consul.
$(BIN)/nats-server: tools/nats/go.mod tools/nats/go.sum
	@mkdir -p $(BIN)
	@if path=$$(command -v nats-server 2>/dev/null) && [ "$$path" != "$(CURDIR)/$@" ]; then \
		echo "==> copying $$path to $@"; \
		cp "$$path" $@.tmp && mv $@.tmp $@; \
	else \
		echo "==> building nats-server from tools/nats into $@"; \
		cd tools/nats && $(GO) build -o $(CURDIR)/$@.tmp github.com/nats-io/nats-server/v2 && mv $(CURDIR)/$@.tmp $(CURDIR)/$@; \
	fi

# buf (make buf) at the version pinned in tools/buf, a module of its own
# like tools/consul, so its dependencies stay out of ours.
$(BIN)/buf: tools/buf/go.mod tools/buf/go.sum
	@mkdir -p $(BIN)
	@echo "==> building buf from tools/buf into $@"
	cd tools/buf && $(GO) build -o $(CURDIR)/$@.tmp github.com/bufbuild/buf/cmd/buf && mv $(CURDIR)/$@.tmp $(CURDIR)/$@

# protoc plugins at the versions pinned by go.mod's tool directives.
$(BIN)/protoc-gen-go: go.mod go.sum
	$(GO) build -o $@ google.golang.org/protobuf/cmd/protoc-gen-go

$(BIN)/protoc-gen-go-grpc: go.mod go.sum
	$(GO) build -o $@ google.golang.org/grpc/cmd/protoc-gen-go-grpc

##@ develop

# Every binary knows its build (kit/version): -version prints it and /healthz
# answers with it. Outside a Git checkout the version and commit stay empty
# and kit/version falls back to what the go command recorded.
VERSION_PKG := github.com/kitshop/kitshop/kit/version
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_TIME  ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) -X $(VERSION_PKG).BuildTime=$(BUILD_TIME)

.PHONY: build
build: ## build every command (*/cmd/*) into bin/; bin/<cmd> -version says which build it is
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(CMDS)

.PHONY: run
run: deps build ## run the whole system locally (gateway :8080, Consul UI :8500, NATS :4222, its monitoring :8222); Ctrl-C stops it
	exec ./$(BIN)/kitshop-local

.PHONY: bench
bench: deps build gozero-peer ## measure requests/s and latency of each layer against a bare handler and a go-zero peer (wrk); results in bench/results/
	./$(BIN)/kitbench $(BENCH_FLAGS)

# The go-zero peer of make bench is a module of its own (bench/gozero), so
# go-zero's dependencies stay out of go.mod; only make bench needs it.
.PHONY: gozero-peer
gozero-peer: ## build make bench's go-zero peer (bench/gozero) into bin/gozero-peer
	@mkdir -p $(BIN)
	cd bench/gozero && $(GO) build -o $(CURDIR)/$(BIN)/gozero-peer .

.PHONY: proto
proto: deps-protoc $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc ## regenerate the protobuf/gRPC code in proto/
	protoc -I proto \
		--plugin=protoc-gen-go=$(BIN)/protoc-gen-go \
		--plugin=protoc-gen-go-grpc=$(BIN)/protoc-gen-go-grpc \
		--go_out=paths=source_relative:proto \
		--go-grpc_out=paths=source_relative:proto \
		$(PROTO_FILES)

.PHONY: service
service: deps-protoc ## add a service in the house layers: make service NAME=inventory (docs/adding-a-service.md)
	@if [ -z "$(NAME)" ]; then echo "usage: make service NAME=<name>" >&2; exit 2; fi
	$(GO) run ./kit/cmd/kitgen new "$(NAME)"

# What buf breaking compares proto/ with: the previous commit, unless told
# otherwise (make buf BUF_AGAINST='.git#tag=v0.1.0,subdir=proto').
BUF_AGAINST ?= .git\#ref=HEAD~1,subdir=proto

.PHONY: buf
buf: $(BIN)/buf ## lint the protobuf contracts and check them for breaking changes against the previous commit
	$(BIN)/buf lint proto
	@echo "==> buf lint: ok"
	@if [ "$(BUF_AGAINST)" = '.git#ref=HEAD~1,subdir=proto' ] && ! git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1; then \
		if ! git rev-parse --git-dir >/dev/null 2>&1; then why="this is not a Git checkout"; \
		elif [ "$$(git rev-parse --is-shallow-repository)" = true ]; then why="the clone is shallow (fetch with --depth 2 or more)"; \
		else why="HEAD is the first commit"; fi; \
		echo "==> buf breaking: SKIPPED, no previous commit to compare with: $$why"; \
	else \
		echo "==> buf breaking proto --against '$(BUF_AGAINST)'"; \
		$(BIN)/buf breaking proto --against '$(BUF_AGAINST)'; \
		echo "==> buf breaking: ok"; \
	fi

.PHONY: fmt
fmt: ## gofmt all Go files (except generated *.pb.go)
	@$(GOFMT) -w $(GO_FILES)

.PHONY: fmt-check
fmt-check: ## fail listing Go files that gofmt would change
	@unformatted=$$($(GOFMT) -l $(GO_FILES)); \
	if [ -n "$$unformatted" ]; then \
		echo "error: these files need gofmt (run make fmt):" >&2; \
		echo "$$unformatted" | sed 's/^/  /' >&2; \
		exit 1; \
	fi; \
	echo "==> gofmt: ok"

.PHONY: vet
vet: ## go vet every package
	$(GO) vet $(PKGS)
	@echo "==> go vet: ok"

.PHONY: test
test: deps build vet fmt-check buf validate-deploy ## deps, vet, gofmt check, buf, deployment checks, all tests (race detector, real Postgres and Consul), then compose-test if Docker answers
	@mkdir -p $(RUN)
	@echo "==> go test $(RACE) -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS)"
	@start=$$(date +%s); status=0; \
	$(GO) test $(RACE) -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS) 2>&1 | tee $(RUN)/test.log || status=$$?; \
	echo; \
	echo "==> summary ($$(( $$(date +%s) - start ))s, full output in $(RUN)/test.log)"; \
	echo "    packages ok:     $$(grep -c '^ok ' $(RUN)/test.log || true)"; \
	echo "    packages failed: $$(grep -cE '^FAIL[[:space:]]+[^[:space:]]' $(RUN)/test.log || true)"; \
	if [ $$status -ne 0 ]; then \
		grep -E '^(--- FAIL|FAIL[[:space:]])|panic:|build failed' $(RUN)/test.log | sed 's/^/    /' || true; \
		echo "==> TESTS FAILED" >&2; \
		exit $$status; \
	fi; \
	echo "==> vet, gofmt and tests: all passed"
	@$(MAKE) --no-print-directory compose-test-if-docker

# The deployment files are checked by a separate module (deploy/validate),
# so kustomize and the Kubernetes API types stay out of go.mod. No Docker
# engine or cluster is needed; docker-compose (from deps-optional) is, and
# bin/nats-server, which checks the Kubernetes NATS cluster's configuration.
.PHONY: validate-deploy
validate-deploy: deps-optional $(BIN)/nats-server ## check docker-compose.yml, deploy/k8s, the Dockerfile and the Prometheus/Grafana files
	@echo "==> deploy/validate: go vet and go test"
	cd deploy/validate && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m $(TEST_FLAGS) ./...

##@ containers

# `make compose-test` runs docker-compose.yml for real (deploy/composetest):
# the README's curl flow, events, an order's trace in Jaeger, faults under
# load, and the order and product databases checked against each other; it removes every container, network
# and volume it made, also on failure. Where nothing can be pulled it builds
# the images from deploy/docker/offline (KITSHOP_OFFLINE=auto|1|0, see
# deploy/composetest/doc.go). `make test` runs it whenever a Docker engine
# answers, and always under CI (CI=true), where a missing engine fails.
COMPOSE_TEST_TIMEOUT ?= 40m

.PHONY: deps-compose-test
deps-compose-test: # docker-compose, and debootstrap for the offline images (root only)
	@if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then \
		if $(can_apt); then $(call apt_install,docker-compose); \
		else echo "error: neither docker compose nor docker-compose is installed" >&2; exit 1; fi; \
	fi
	@if [ "$${KITSHOP_OFFLINE:-auto}" != 0 ] && ! command -v debootstrap >/dev/null 2>&1 && $(can_apt); then \
		echo "==> installing debootstrap (apt-get install debootstrap), for the offline images"; \
		$(call apt_install,debootstrap); \
	fi

.PHONY: compose-test
compose-test: $(BIN)/consul $(BIN)/nats-server deps-compose-test ## run docker-compose.yml: README flow, events (an order paid), an order's trace in Jaeger, faults under load, database consistency
	@project=kitshoptest$$$$; \
	cleanup() { \
		ids=$$(docker ps -aq --filter label=com.docker.compose.project=$$project); \
		[ -z "$$ids" ] || docker rm -f $$ids >/dev/null; \
		ids=$$(docker network ls -q --filter label=com.docker.compose.project=$$project); \
		[ -z "$$ids" ] || docker network rm $$ids >/dev/null; \
		ids=$$(docker volume ls -q --filter label=com.docker.compose.project=$$project); \
		[ -z "$$ids" ] || docker volume rm $$ids >/dev/null; \
	}; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	echo "==> compose test (project $$project)"; \
	KITSHOP_COMPOSE_PROJECT=$$project KITSHOP_CONSUL=$${KITSHOP_CONSUL:-$(CURDIR)/$(BIN)/consul} \
		$(GO) test -tags composetest -count=1 -v -timeout $(COMPOSE_TEST_TIMEOUT) ./deploy/composetest/

# images builds the kitshop images from deploy/docker/Dockerfile, tagged by
# commit and as :dev (what deploy/k8s/overlays/local uses), for a cluster's
# image loader (kind load docker-image, minikube image load). With
# KITSHOP_OFFLINE=1 they are built from host binaries, nothing pulled.
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
# Every service the Dockerfile can build (<name>/cmd/<name>), and the gateway.
IMAGE_SERVICES = $(sort $(foreach m,$(wildcard */cmd/*/main.go),$(if $(filter $(word 1,$(subst /, ,$(m))),$(word 3,$(subst /, ,$(m)))),$(word 1,$(subst /, ,$(m))))))

.PHONY: images
images: ## build kitshop/<service>:<commit> and :dev for Kubernetes (KITSHOP_OFFLINE=1: from host binaries)
	@offline=""; \
	if [ "$${KITSHOP_OFFLINE:-0}" = 1 ]; then \
		bash deploy/docker/offline/images.sh; \
		offline="--build-arg BINARIES=prebuilt --build-arg GO_IMAGE=kitshop-offline/prebuilt:latest"; \
	fi; \
	for svc in $(IMAGE_SERVICES); do \
		echo "==> kitshop/$$svc:$(IMAGE_TAG) and kitshop/$$svc:dev"; \
		docker build -q -f deploy/docker/Dockerfile $$offline --build-arg SERVICE=$$svc \
			--build-arg VERSION=$(VERSION) --build-arg REVISION=$(COMMIT) --build-arg CREATED=$(BUILD_TIME) \
			-t kitshop/$$svc:$(IMAGE_TAG) -t kitshop/$$svc:dev . >/dev/null; \
	done; \
	docker image ls --filter reference='kitshop/*:$(IMAGE_TAG)' --format '{{.Repository}}:{{.Tag}}  {{.Size}}'

# compose-test-if-docker: compose-test when a Docker engine answers; under
# CI a missing engine is an error, never a skip.
.PHONY: compose-test-if-docker
compose-test-if-docker:
	@if docker version >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory compose-test; \
	elif [ "$${CI:-}" = true ]; then \
		echo "error: CI=true but no Docker engine answers (docker version failed); make compose-test needs one" >&2; exit 1; \
	else \
		echo "==> no Docker engine answers: skipping make compose-test"; \
	fi

##@ cleanup

.PHONY: clean
clean: ## remove build outputs (keeps bin/consul) and .run/ (logs; as non-root also the local database)
	@if [ -d $(BIN) ]; then find $(BIN) -mindepth 1 -maxdepth 1 ! -name consul -exec rm -rf {} +; fi
	rm -rf $(RUN)

.PHONY: clean-all
clean-all: clean ## clean, and also remove bin/consul and the root-mode local database
	rm -rf $(BIN) $(ROOT_DATA_DIR)
