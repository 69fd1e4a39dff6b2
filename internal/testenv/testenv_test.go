package testenv_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDatabaseIsFreshPerCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := testenv.Database(t)
	second := testenv.Database(t)
	if first == second {
		t.Fatalf("Database returned %s twice, want a new database per call", first)
	}

	conn, err := pgx.Connect(ctx, first)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE only_in_first (id int)"); err != nil {
		t.Fatalf("create table: %v", err)
	}

	conn2, err := pgx.Connect(ctx, second)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn2.Close(ctx)
	var n int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'").Scan(&n); err != nil {
		t.Fatalf("query: %v", err)
	}
	if n != 0 {
		t.Errorf("second database sees %d tables of the first, want 0", n)
	}
}

func TestPostgresIsShared(t *testing.T) {
	if a, b := testenv.Postgres(t), testenv.Postgres(t); a != b {
		t.Errorf("Postgres returned two servers (%d, %d), want one per test binary", a.Port(), b.Port())
	}
}

func TestDatabaseNamesAreValidForLongSubtestNames(t *testing.T) {
	t.Run("a very long subtest name with spaces/slashes and UPPER case, over sixty-three characters", func(t *testing.T) {
		t.Parallel()
		testenv.Database(t) // fails the test if the name were invalid
	})
	t.Run("ünïcödé", func(t *testing.T) {
		t.Parallel()
		testenv.Database(t)
	})
}

func TestConsul(t *testing.T) {
	c := testenv.Consul(t)
	if again := testenv.Consul(t); again != c {
		t.Error("Consul returned two agents, want one per test binary")
	}
	resp, err := http.Get(c.URL() + "/v1/status/leader")
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	defer resp.Body.Close()
	var leader string
	if err := json.NewDecoder(resp.Body).Decode(&leader); err != nil || leader == "" {
		t.Errorf("leader = %q, %v; want non-empty", leader, err)
	}
}

func TestNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := testenv.NATS(t)
	if again := testenv.NATS(t); again != n {
		t.Error("NATS returned two servers, want one per test binary")
	}
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Errorf("JetStream account info: %v", err)
	}
}

func TestOwnNATSIsStoppedAfterTheTest(t *testing.T) {
	var n *devenv.NATS
	t.Run("own", func(t *testing.T) {
		n = testenv.OwnNATS(t)
		if n == testenv.NATS(t) {
			t.Error("OwnNATS returned the shared server")
		}
	})
	select {
	case <-n.Process().Done():
	default:
		t.Error("OwnNATS server still running after its test ended")
	}
}
