package devenv_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kitshop/kitshop/internal/devenv"
)

func TestRepoRoot(t *testing.T) {
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatalf("RepoRoot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "devenv", "doc.go")); err != nil {
		t.Errorf("RepoRoot = %s, which does not contain internal/devenv: %v", root, err)
	}
}

func TestFreePortAndCheckPortFree(t *testing.T) {
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatalf("FreePort: %v", err)
	}
	if err := devenv.CheckPortFree(port, "test"); err != nil {
		t.Errorf("CheckPortFree(free port %d) = %v, want nil", port, err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, portStr, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	busyPort, _ := strconv.Atoi(portStr)
	err = devenv.CheckPortFree(busyPort, "gateway")
	if err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Errorf("CheckPortFree(busy port) = %v, want an error naming gateway", err)
	}
}

func TestWaitHTTP(t *testing.T) {
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := devenv.WaitHTTP(ctx, srv.URL, http.StatusOK)
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("WaitHTTP before ready = %v, want timeout mentioning status 503", err)
	}

	time.AfterFunc(200*time.Millisecond, func() { close(ready) })
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := devenv.WaitHTTP(ctx, srv.URL, http.StatusOK); err != nil {
		t.Fatalf("WaitHTTP after ready = %v, want nil", err)
	}
}

// alive reports whether pid is still a live (non-zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// readPid waits for a shell script to write its background child's pid.
func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if pid, convErr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && convErr == nil {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid written to %s", path)
	return 0
}

func TestProcessStopKillsWholeGroup(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		// killed: the group ignored SIGTERM, so Stop had to use SIGKILL
		// and reports it.
		killed bool
	}{
		{
			name:   "polite group exits on SIGTERM",
			script: `sleep 300 & echo $! > "$PIDFILE"; wait`,
			grace:  5 * time.Second,
		},
		{
			name:   "stubborn group is killed after grace",
			script: `trap "" TERM; sleep 300 & echo $! > "$PIDFILE"; while :; do sleep 1; done`,
			grace:  300 * time.Millisecond,
			killed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			logPath := filepath.Join(dir, "logs", "sh.log")
			p, err := devenv.StartProcess(context.Background(), devenv.ProcessConfig{
				Name:    "sh",
				Path:    "/bin/sh",
				Args:    []string{"-c", tt.script},
				Env:     []string{"PIDFILE=" + pidFile},
				LogPath: logPath,
			})
			if err != nil {
				t.Fatalf("StartProcess: %v", err)
			}
			child := readPid(t, pidFile)
			if !alive(child) {
				t.Fatalf("background child %d not running", child)
			}

			err = p.Stop(tt.grace)
			if gotKilled := err != nil; gotKilled != tt.killed {
				t.Errorf("Stop error = %v, want killed=%v", err, tt.killed)
			}
			select {
			case <-p.Done():
			default:
				t.Fatal("Done not closed after Stop")
			}
			// The grandchild may take a moment to be reaped by init.
			deadline := time.Now().Add(2 * time.Second)
			for alive(child) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(child) {
				t.Errorf("child %d of the group survived Stop", child)
			}
			if err := syscall.Kill(p.Pid(), 0); err == nil && alive(p.Pid()) {
				t.Errorf("leader %d survived Stop", p.Pid())
			}
			if log := p.LogTail(5); !strings.Contains(log, "==> sh starting at ") {
				t.Errorf("log tail = %q, want the start header", log)
			}
			if err := p.Stop(time.Second); err != nil {
				t.Errorf("second Stop = %v, want nil", err)
			}
		})
	}
}

func TestProcessExitSweepsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p, err := devenv.StartProcess(context.Background(), devenv.ProcessConfig{
		Name: "sh",
		Path: "/bin/sh",
		// The leader exits by itself, leaving a child behind.
		Args: []string{"-c", `sleep 300 & echo $! > "$PIDFILE"; sleep 0.2`},
		Env:  []string{"PIDFILE=" + pidFile},
	})
	if err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	child := readPid(t, pidFile)
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leader did not exit")
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err = %v, want nil for exit status 0", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) {
		t.Errorf("child %d outlived its group leader", child)
	}
}

func TestStartProcessMissingBinary(t *testing.T) {
	_, err := devenv.StartProcess(context.Background(), devenv.ProcessConfig{
		Name: "ghost",
		Path: filepath.Join(t.TempDir(), "no-such-binary"),
	})
	if err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("StartProcess(missing) = %v, want an error naming the process", err)
	}
}

func TestPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A caller-owned data dir, so the second start below reuses the cluster.
	// Under /tmp because when we are root the server's user must reach it.
	base, err := os.MkdirTemp("/tmp", "kitshop-devenv-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := devenv.PostgresConfig{DataDir: filepath.Join(base, "pgdata"), NoFsync: true}

	pg, err := devenv.StartPostgres(ctx, cfg)
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	url, err := pg.CreateDatabase(ctx, "shop")
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if want := pg.URL("shop"); url != want {
		t.Errorf("CreateDatabase URL = %s, want %s", url, want)
	}
	if again, err := pg.CreateDatabase(ctx, "shop"); err != nil || again != url {
		t.Errorf("CreateDatabase again = %s, %v; want %s, nil (idempotent)", again, err, url)
	}
	for _, bad := range []string{"", "Shop", "drop table", `a"b`, strings.Repeat("a", 64)} {
		if _, err := pg.CreateDatabase(ctx, bad); err == nil {
			t.Errorf("CreateDatabase(%q) = nil error, want rejection", bad)
		}
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	var listen string
	if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, %v; want 127.0.0.1", listen, err)
	}
	conn.Close(ctx)

	// A wrong password must be refused: scram auth, not trust.
	bad := strings.Replace(url, ":"+devenv.PostgresPassword+"@", ":wrong@", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Error("connect with a wrong password succeeded, want auth failure")
	}

	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(pg.Process().Pid()) {
		t.Fatal("postgres still running after Stop")
	}

	// Restart on the same data dir: the data survives (second `make run`).
	pg2, err := devenv.StartPostgres(ctx, cfg)
	if err != nil {
		t.Fatalf("StartPostgres on existing data dir: %v", err)
	}
	defer pg2.Stop()
	url2, err := pg2.CreateDatabase(ctx, "shop")
	if err != nil {
		t.Fatalf("CreateDatabase after restart: %v", err)
	}
	conn, err = pgx.Connect(ctx, url2)
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn.Close(ctx)
	var got string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&got); err != nil || got != "hello" {
		t.Errorf("kept row = %q, %v; want hello", got, err)
	}
}

func TestPostgresTempClusterRemovedOnStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := devenv.StartPostgres(ctx, devenv.PostgresConfig{NoFsync: true})
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	dir := pg.DataDir()
	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data dir %s still exists after Stop (stat err %v)", dir, err)
	}
}

func TestConsul(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "consul.log")
	c, err := devenv.StartConsul(ctx, devenv.ConsulConfig{LogPath: logPath})
	if err != nil {
		t.Fatalf("StartConsul: %v", err)
	}
	defer c.Stop()
	if !strings.HasPrefix(c.Addr(), "127.0.0.1:") {
		t.Errorf("Addr = %s, want 127.0.0.1:port", c.Addr())
	}

	resp, err := http.Get(c.URL() + "/v1/status/leader")
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	defer resp.Body.Close()
	var leader string
	if err := json.NewDecoder(resp.Body).Decode(&leader); err != nil || leader == "" {
		t.Errorf("leader = %q, %v; want a non-empty leader", leader, err)
	}
	if err := devenv.WaitHTTP(ctx, c.URL()+"/ui/", http.StatusOK); err != nil {
		t.Errorf("UI: %v", err)
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(c.Process().Pid()) {
		t.Error("consul still running after Stop")
	}
}

func TestConsulFixedPortInUse(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, portStr, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	port, _ := strconv.Atoi(portStr)
	_, err := devenv.StartConsul(context.Background(), devenv.ConsulConfig{HTTPPort: port})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("StartConsul on a busy port = %v, want an 'already in use' error", err)
	}
}

func TestBinaryLookupOverrides(t *testing.T) {
	t.Run("consul", func(t *testing.T) {
		t.Setenv(devenv.EnvConsul, filepath.Join(t.TempDir(), "missing"))
		if _, err := devenv.ConsulBinary(); err == nil || !strings.Contains(err.Error(), devenv.EnvConsul) {
			t.Errorf("ConsulBinary = %v, want an error naming $%s", err, devenv.EnvConsul)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Setenv(devenv.EnvPostgresBinDir, t.TempDir())
		if _, err := devenv.PostgresBinDir(); err == nil || !strings.Contains(err.Error(), devenv.EnvPostgresBinDir) {
			t.Errorf("PostgresBinDir = %v, want an error naming $%s", err, devenv.EnvPostgresBinDir)
		}
	})
}

// TestProcessLogEndsWithTheChildsLastWords checks that a child which fails
// at once, before StartProcess has returned, still has the last line of its
// log: what a caller quotes as the reason it failed.
func TestProcessLogEndsWithTheChildsLastWords(t *testing.T) {
	for i := range 20 {
		logPath := filepath.Join(t.TempDir(), "fail.log")
		p, err := devenv.StartProcess(context.Background(), devenv.ProcessConfig{
			Name:    "fail",
			Path:    "/bin/sh",
			Args:    []string{"-c", "echo 'fail: database: connection refused' >&2; exit 1"},
			LogPath: logPath,
		})
		if err != nil {
			t.Fatalf("StartProcess: %v", err)
		}
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the child did not exit")
		}
		tail := strings.TrimSpace(p.LogTail(5))
		if !strings.HasSuffix(tail, "fail: database: connection refused") || !strings.HasPrefix(tail, "==> fail starting at ") {
			t.Fatalf("run %d: log = %q, want the header, then the child's line last", i, tail)
		}
	}
}
