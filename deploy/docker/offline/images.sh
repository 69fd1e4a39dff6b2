#!/usr/bin/env bash
# images.sh: build every image that docker-compose.yml names, except
# Prometheus and Grafana, with nothing pulled from a registry
# (deploy/compose/offline.yml maps the services to them and says why those
# two are left out):
#
#   kitshop-offline/debian:bookworm   debootstrap --variant=minbase root with
#                                     postgresql-15, imported (debian-root.sh)
#   kitshop-offline/postgres:15       that, plus an official-style entrypoint
#   kitshop-offline/consul:1.15.4     bin/consul (from `make deps`) on that root
#   kitshop-offline/nats:2.15.3       bin/nats-server (from `make deps`) and the
#                                     kitshop healthcheck on that root
#   kitshop-offline/mailpit:v1.33.1   Mailpit built from its Go module (the
#                                     Go module proxy is a registry this
#                                     machine reaches; its web UI stays blank,
#                                     see mailpit/Dockerfile) on that root
#   kitshop-offline/jaeger:2.12.0     Jaeger v2 built from its Go module
#                                     (v1.75.0, the same release) and the
#                                     kitshop healthcheck on that root; its
#                                     UI is a placeholder, see
#                                     jaeger/Dockerfile
#   kitshop-offline/prebuilt:latest   the build-stage base: the kitshop
#                                     binaries, built on this host
#
# The kitshop service images themselves are built by compose from
# deploy/docker/Dockerfile with BINARIES=prebuilt and that GO_IMAGE.
#
# The root is cached as a tarball in $KITSHOP_OFFLINE_CACHE (default
# /var/cache/kitshop), so only the first run needs Debian's mirror; an image
# already tagged is not imported again, and the rest is docker build cache.
# Needs root (debootstrap, chroot) the first time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${KITSHOP_OFFLINE_CACHE:-/var/cache/kitshop}
work=$root/.run/docker-offline
consul_bin=${KITSHOP_CONSUL:-$root/bin/consul}
nats_bin=${KITSHOP_NATS:-$root/bin/nats-server}
# The version of docker-compose.yml's axllent/mailpit image.
mailpit_version=v1.33.1
# docker-compose.yml's jaegertracing/jaeger:2.12.0 is the release Jaeger's
# Go module tags v1.75.0 (each release has a v1 and a v2 tag; the module
# path has no /v2, so only the v1 tags are module versions).
jaeger_version=2.12.0
jaeger_module_version=v1.75.0
GO=${GO:-go}

started=$SECONDS
log() { printf '==> [%3ds] %s\n' "$((SECONDS - started))" "$*"; }
build() { # build TAG CONTEXT: docker build, quiet unless it fails
	local out
	if ! out=$(docker build -q -t "$1" "$2" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "images.sh: docker build -t $1 $2 failed" >&2
		return 1
	fi
}

base=kitshop-offline/debian:bookworm
if docker image inspect "$base" >/dev/null 2>&1; then
	log "$base: present"
else
	tarball=$cache/bookworm-postgres15.tar
	if [ ! -s "$tarball" ]; then
		mkdir -p "$cache"
		log "making $tarball"
		bash "$here/debian-root.sh" "$cache/bookworm-root" "$tarball"
	fi
	log "docker import $tarball as $base"
	docker import --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
fi

log "kitshop-offline/postgres:15"
build kitshop-offline/postgres:15 "$here/postgres"

[ -x "$consul_bin" ] || { echo "images.sh: $consul_bin missing (make deps builds it)" >&2; exit 1; }
mkdir -p "$work/consul" "$work/prebuilt/bin"
cp "$here/consul/Dockerfile" "$work/consul/Dockerfile"
if [ ! -f "$work/consul/consul" ] || [ "$consul_bin" -nt "$work/consul/consul" ]; then
	# Without its debug information the binary is a third of the size.
	strip -o "$work/consul/consul.tmp" "$consul_bin" 2>/dev/null || cp "$consul_bin" "$work/consul/consul.tmp"
	mv "$work/consul/consul.tmp" "$work/consul/consul"
fi
log "kitshop-offline/consul:1.15.4"
build kitshop-offline/consul:1.15.4 "$work/consul"

# The same flags as the Dockerfile's build stage: static, no local paths,
# no symbol tables. Every service is <name>/cmd/<name>, as the Dockerfile's
# SERVICE argument wants, so a service kitgen adds is built too.
log "go build the service binaries (static) into $work/prebuilt/bin"
cp "$here/prebuilt/Dockerfile" "$work/prebuilt/Dockerfile"
(
	cd "$root"
	cmds="deploy/cmd/healthcheck deploy/cmd/kitshop-secrets"
	for main in */cmd/*/main.go; do
		svc=${main%%/*}
		[ "$main" = "$svc/cmd/$svc/main.go" ] && cmds="$cmds $svc/cmd/$svc"
	done
	for cmd in $cmds; do
		CGO_ENABLED=0 GOFLAGS=-buildvcs=false "$GO" build -trimpath -ldflags='-s -w' \
			-o "$work/prebuilt/bin/$(basename "$cmd")" "./$cmd"
	done
)
log "kitshop-offline/prebuilt:latest"
build kitshop-offline/prebuilt:latest "$work/prebuilt"

[ -x "$nats_bin" ] || { echo "images.sh: $nats_bin missing (make deps builds it)" >&2; exit 1; }
mkdir -p "$work/nats"
cp "$here/nats/Dockerfile" "$work/nats/Dockerfile"
cp "$work/prebuilt/bin/healthcheck" "$work/nats/healthcheck"
if [ ! -f "$work/nats/nats-server" ] || [ "$nats_bin" -nt "$work/nats/nats-server" ]; then
	strip -o "$work/nats/nats-server.tmp" "$nats_bin" 2>/dev/null || cp "$nats_bin" "$work/nats/nats-server.tmp"
	mv "$work/nats/nats-server.tmp" "$work/nats/nats-server"
fi
log "kitshop-offline/nats:2.15.3"
build kitshop-offline/nats:2.15.3 "$work/nats"

# go install with @version ignores the repository's go.mod: Mailpit builds
# with its own, checked against the checksum database. Once per version.
mkdir -p "$work/mailpit"
cp "$here/mailpit/Dockerfile" "$work/mailpit/Dockerfile"
if [ "$(cat "$work/mailpit/version" 2>/dev/null)" != "$mailpit_version" ]; then
	log "go install github.com/axllent/mailpit@$mailpit_version (static; a minute or two, once)"
	rm -f "$work/mailpit/mailpit" "$work/mailpit/version"
	GOBIN="$work/mailpit" CGO_ENABLED=0 GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags='-s -w' \
		"github.com/axllent/mailpit@$mailpit_version"
	echo "$mailpit_version" >"$work/mailpit/version"
fi
log "kitshop-offline/mailpit:$mailpit_version"
build "kitshop-offline/mailpit:$mailpit_version" "$work/mailpit"

# Jaeger's go.mod has a replace directive, which `go install @version`
# refuses, so the binary is built as a tool of a throwaway module that
# copies the module's replaces (a dependent module does not inherit them)
# and so builds with exactly its dependencies. The first build compiles the
# OpenTelemetry collector and every storage client Jaeger links: minutes,
# once per version (then Go's build cache).
mkdir -p "$work/jaeger"
cp "$here/jaeger/Dockerfile" "$work/jaeger/Dockerfile"
cp "$work/prebuilt/bin/healthcheck" "$work/jaeger/healthcheck"
if [ "$(cat "$work/jaeger/version" 2>/dev/null)" != "$jaeger_module_version" ]; then
	log "go build github.com/jaegertracing/jaeger/cmd/jaeger@$jaeger_module_version (static; minutes, once)"
	rm -rf "$work/jaeger/jaeger" "$work/jaeger/version" "$work/jaeger/module"
	mkdir "$work/jaeger/module"
	(
		cd "$work/jaeger/module"
		export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off
		"$GO" mod init kitshop-offline/jaeger >/dev/null 2>&1
		gomod=$("$GO" mod download -json "github.com/jaegertracing/jaeger@$jaeger_module_version" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
		# One-line replaces of a module version (Jaeger has only these).
		sed -n 's/^replace[[:space:]]\{1,\}\([^[:space:]]*\)[[:space:]]\{1,\}=>[[:space:]]\{1,\}\([^[:space:]]*\)[[:space:]]\{1,\}\(v[^[:space:]]*\)[[:space:]]*$/\1=\2@\3/p' "$gomod" |
			while read -r r; do "$GO" mod edit -replace "$r"; done
		"$GO" get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$jaeger_module_version"
		"$GO" build -trimpath -ldflags="-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_version" \
			-o "$work/jaeger/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
	)
	echo "$jaeger_module_version" >"$work/jaeger/version"
fi
log "kitshop-offline/jaeger:$jaeger_version"
build "kitshop-offline/jaeger:$jaeger_version" "$work/jaeger"
log "offline images ready"
