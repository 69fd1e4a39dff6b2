// Package devenv runs the real infrastructure kitshop depends on — PostgreSQL,
// Consul, NATS (JetStream) and the services' own binaries — as child
// processes on loopback.
//
// It is shared by two kinds of callers: integration tests (through
// internal/testenv, which keeps one server of each kind per test binary) and
// the local stack behind `make run` (deploy/local). Both want the same things:
// real servers rather than fakes, free ports so parallel runs never collide,
// logs in files they can show when something fails, and a Stop that leaves no
// process behind.
//
// Every child runs in its own process group. Stop signals the whole group, so
// helpers a child forks go with it, and SIGKILL follows if the group ignores
// the polite signal; when a child exits, whatever is left of its group is
// killed too. (PostgreSQL's backends move to groups of their own; they exit
// once they notice their postmaster is gone, and Postgres.Restart kills them
// rather than wait.) Children also get a parent-death signal, so a test
// binary killed by a timeout does not leave servers running.
//
// Postgres.Restart, Consul.Restart and NATS.Restart start a server that died again on the
// same data directory and ports, for a supervisor such as deploy/local's.
//
// PostgreSQL refuses to run as root. When we are root, initdb and postgres run
// as the `postgres` system user on a data directory that user owns; the
// directory must therefore be reachable by it (somewhere under /tmp, not under
// /root).
//
// The binaries are found through PostgresBinDir, ConsulBinary and NATSBinary; when one is
// missing the error says to run `make deps`, which installs or builds them.
package devenv
