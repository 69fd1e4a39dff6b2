// Package testenv gives integration tests real PostgreSQL, Consul and NATS servers,
// started once per test binary and shared by all its tests.
//
// Starting a cluster costs a second or two; a fresh database in a running
// cluster costs milliseconds. So each test binary gets one server of each
// kind, started lazily by the first test that asks, and every test that needs
// isolation asks for its own database:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestCreateProduct(t *testing.T) {
//		url := testenv.Database(t) // empty database of its own
//		...
//	}
//
// Main stops the servers when the tests are done. The servers are real
// processes (see internal/devenv); a missing binary fails the test and says
// to run `make deps` — tests are never skipped for want of infrastructure,
// because a skipped integration test looks exactly like a passing one in CI.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/devenv"
)

// servers holds the shared servers of this test binary. It is package state
// on purpose: the one place tests of a package can meet is the package, and
// TestMain is the one place that runs after all of them to clean up.
type servers struct {
	mu        sync.Mutex
	inMain    bool
	logDir    string // Consul's log; removed when the tests are done
	pg        *devenv.Postgres
	pgErr     error
	consul    *devenv.Consul
	consulErr error
	nats      *devenv.NATS
	natsErr   error
}

var shared servers

// startTimeout bounds starting one shared server, including initdb.
const startTimeout = 2 * time.Minute

// Main runs the tests and then stops the shared servers. Call it from
// TestMain; Postgres, Database and Consul fail a test in a binary whose
// TestMain does not, since nothing would stop the servers.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	code := m.Run()
	shared.stop()
	os.Exit(code)
}

// stop stops whatever servers were started and removes their files. Errors
// only go to stderr: the tests have already reported their verdict.
func (s *servers) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nats != nil {
		if err := s.nats.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop nats: %v\n", err)
		}
	}
	if s.consul != nil {
		if err := s.consul.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop consul: %v\n", err)
		}
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop postgres: %v\n", err)
		}
	}
	if s.logDir != "" {
		_ = os.RemoveAll(s.logDir)
	}
}

// Postgres returns the test binary's PostgreSQL server, starting it on first
// use. It is a throwaway cluster without fsync; use Database for a database
// of the test's own.
func Postgres(t testing.TB) *devenv.Postgres {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("testenv: call testenv.Main(m) from TestMain so the shared servers are stopped")
	}
	if shared.pg == nil && shared.pgErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.pg, shared.pgErr = devenv.StartPostgres(ctx, devenv.PostgresConfig{NoFsync: true})
	}
	if shared.pgErr != nil {
		// Remembered, so later tests fail fast with the same reason
		// instead of each waiting for a start that cannot work.
		t.Fatalf("testenv: PostgreSQL unavailable (run `make deps` if binaries are missing): %v", shared.pgErr)
	}
	return shared.pg
}

// Database creates an empty database in the shared server and returns its
// URL. Every call gets a new database named after the test, so tests may run
// in parallel and leave their data behind for inspection; the cluster goes
// away with the test binary.
func Database(t testing.TB) string {
	t.Helper()
	pg := Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := pg.CreateDatabase(ctx, databaseName(t.Name()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return url
}

// databaseName turns a test name into a valid, unique database name: the
// readable part helps when looking at a cluster, the random suffix keeps
// repeated calls and -count=N runs apart.
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 44 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix))
	return b.String()
}

// Consul returns the test binary's Consul dev agent, starting it on first
// use. Its catalog is shared by the binary's tests: register services under
// names (or IDs) unique to the test.
func Consul(t testing.TB) *devenv.Consul {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("testenv: call testenv.Main(m) from TestMain so the shared servers are stopped")
	}
	if shared.consul == nil && shared.consulErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.logDir, shared.consulErr = os.MkdirTemp("", "kitshop-testenv-")
		if shared.consulErr == nil {
			shared.consul, shared.consulErr = devenv.StartConsul(ctx, devenv.ConsulConfig{
				LogPath: filepath.Join(shared.logDir, "consul.log"),
			})
		}
	}
	if shared.consulErr != nil {
		t.Fatalf("testenv: Consul unavailable (run `make deps` if the binary is missing): %v", shared.consulErr)
	}
	return shared.consul
}
