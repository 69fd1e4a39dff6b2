#!/bin/bash
# The part of the official postgres image's entrypoint that kitshop's
# docker-compose.yml relies on: POSTGRES_USER, POSTGRES_DB and
# POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE; initdb into an empty PGDATA
# on the first start, with password (scram-sha-256) logins over TCP and the
# server listening on every address at 5432; while initialising, a
# temporary server on the Unix socket only, so a TCP pg_isready does not
# report ready before the database and role exist.
set -Eeuo pipefail

if [ "${1:0:1}" = - ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

# Root prepares the directories and reads the secrets, then runs the rest as
# postgres (the server refuses to run as root).
if [ "$(id -u)" = 0 ]; then
	install -d -o postgres -g postgres -m 0700 "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 0700 "$PGDATA"
	install -d -o postgres -g postgres -m 2775 /var/run/postgresql
	if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
		POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
		export POSTGRES_PASSWORD
		unset POSTGRES_PASSWORD_FILE
	fi
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
	POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
fi
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "docker-entrypoint: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2
		exit 1
	fi
	echo "docker-entrypoint: initialising $PGDATA for $POSTGRES_USER/$POSTGRES_DB"
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
		-D "$PGDATA" >/dev/null
	printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	if [ "$POSTGRES_DB" != postgres ]; then
		# The name quoted as an identifier: "user" and "order" are
		# reserved words.
		psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
			--set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "docker-entrypoint: initialised"
fi
unset POSTGRES_PASSWORD

exec "$@"
