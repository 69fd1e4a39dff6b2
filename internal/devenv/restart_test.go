package devenv_test

import (
	"context"
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kitshop/kitshop/internal/devenv"
)

// TestPostgresRestartAfterSIGKILL kills only the postmaster, as a crash or
// the OOM killer would, with clients connected: its backends are left
// behind, attached to the old shared memory. Restart must clear them and
// the stale lock file and bring the same cluster back on the same port.
func TestPostgresRestartAfterSIGKILL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := devenv.StartPostgres(ctx, devenv.PostgresConfig{NoFsync: true})
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	defer pg.Stop()
	url, err := pg.CreateDatabase(ctx, "shop")
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	// NoFsync commits asynchronously: without a checkpoint the row could
	// still be in the WAL buffers, which a crash loses.
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	// Backends that are busy when the postmaster dies: one idle in a
	// session, one in a long query.
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatalf("backend pid: %v", err)
	}
	busy, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer busy.Close(context.Background())
	go busy.Exec(context.Background(), "SELECT pg_sleep(300)") //nolint:errcheck // ends with the server

	old := pg.Process()
	port := pg.Port()
	if err := syscall.Kill(old.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL postmaster: %v", err)
	}
	select {
	case <-old.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("postmaster not reaped after SIGKILL")
	}

	if err := pg.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if pg.Process() == old || pg.Process().Pid() == old.Pid() {
		t.Errorf("Process after Restart is the old one (pid %d)", old.Pid())
	}
	if pg.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", pg.Port(), port)
	}
	if alive(backend) {
		t.Errorf("backend %d of the killed postmaster still runs after Restart", backend)
	}
	again, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect after Restart (same URL): %v", err)
	}
	defer again.Close(context.Background())
	var got string
	if err := again.QueryRow(ctx, "SELECT v FROM kept").Scan(&got); err != nil || got != "hello" {
		t.Errorf("kept row after Restart = %q, %v; want hello", got, err)
	}
	// And it restarts again: nothing of the first recovery is in the way.
	if err := syscall.Kill(pg.Process().Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL postmaster: %v", err)
	}
	<-pg.Process().Done()
	if err := pg.Restart(ctx); err != nil {
		t.Fatalf("second Restart: %v", err)
	}
}

// TestConsulRestart kills the agent and restarts it: same address, a leader
// again, and (a -dev agent) an empty catalog.
func TestConsulRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := devenv.StartConsul(ctx, devenv.ConsulConfig{LogPath: t.TempDir() + "/consul.log"})
	if err != nil {
		t.Fatalf("StartConsul: %v", err)
	}
	defer c.Stop()
	addr, old := c.Addr(), c.Process()
	if err := old.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if c.Addr() != addr {
		t.Errorf("Addr after Restart = %s, want %s", c.Addr(), addr)
	}
	if c.Process() == old {
		t.Error("Process after Restart is the old one")
	}
	resp, err := http.Get(c.URL() + "/v1/status/leader")
	if err != nil {
		t.Fatalf("leader after Restart: %v", err)
	}
	defer resp.Body.Close()
	var leader string
	if err := json.NewDecoder(resp.Body).Decode(&leader); err != nil || leader == "" {
		t.Errorf("leader after Restart = %q, %v; want one", leader, err)
	}
	// Restart of a running agent stops it first.
	running := c.Process()
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart of a running agent: %v", err)
	}
	select {
	case <-running.Done():
	default:
		t.Error("the running agent was not stopped by Restart")
	}
}
