package devenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The superuser every cluster started here has. The password is a fixed
// development credential: these clusters listen on loopback only.
const (
	PostgresUser     = "kitshop"
	PostgresPassword = "kitshop"
)

// PostgresConfig describes a PostgreSQL cluster to start.
type PostgresConfig struct {
	// DataDir is the cluster directory. It is initialised with initdb when it
	// does not hold a cluster yet and reused otherwise. Empty means a fresh
	// temporary cluster under /tmp that Stop deletes.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (and retries
	// with another if it is taken before the server binds it).
	Port int
	// LogPath receives the server log; empty means postgres.log next to
	// DataDir.
	LogPath string
	// NoFsync trades durability for speed (fsync, synchronous_commit and
	// full_page_writes off; initdb without sync). Only for throwaway test
	// clusters: a crash can corrupt the data.
	NoFsync bool
	// MaxConnections is max_connections; 0 means 200, enough for several
	// services' pools plus tests running in parallel.
	MaxConnections int
	// BinDir holds initdb and postgres; empty means PostgresBinDir().
	BinDir string
}

// Postgres is a running PostgreSQL server listening on 127.0.0.1. Its
// methods are safe for concurrent use.
type Postgres struct {
	port    int
	dataDir string
	tempDir string // removed by Stop; "" for a caller-owned DataDir
	cfg     PostgresConfig
	cred    *syscall.Credential

	mu   sync.Mutex // guards proc, which Restart replaces
	proc *Process
}

// postgresStartTimeout bounds initdb plus startup when ctx has no sooner
// deadline; crash recovery of a small development cluster fits easily.
const postgresStartTimeout = 90 * time.Second

// postgresStopGrace is how long a fast shutdown may take before SIGKILL.
const postgresStopGrace = 15 * time.Second

// StartPostgres initialises (if needed) and starts a PostgreSQL cluster and
// waits until it accepts connections from the kitshop superuser. When we are
// root the server runs as the `postgres` system user, which must be able to
// reach DataDir.
func StartPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	ctx, cancel := context.WithTimeout(ctx, postgresStartTimeout)
	defer cancel()

	if cfg.BinDir == "" {
		dir, err := PostgresBinDir()
		if err != nil {
			return nil, err
		}
		cfg.BinDir = dir
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 200
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}

	pg := &Postgres{dataDir: cfg.DataDir, cred: cred}
	started := false
	defer func() {
		if !started && pg.tempDir != "" {
			_ = os.RemoveAll(pg.tempDir)
		}
	}()
	if pg.dataDir == "" {
		base := "" // $TMPDIR
		if cred != nil {
			base = "/tmp" // $TMPDIR might sit where the postgres user cannot go
		}
		tmp, err := os.MkdirTemp(base, "kitshop-pg-")
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		if cred != nil {
			if err := os.Chown(tmp, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("postgres: %w", err)
			}
		}
		pg.tempDir = tmp
		pg.dataDir = filepath.Join(tmp, "data")
	} else if pg.dataDir, err = filepath.Abs(pg.dataDir); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(filepath.Dir(pg.dataDir), "postgres.log")
	}
	pg.cfg = cfg

	if err := prepareDataDir(pg.dataDir, cred); err != nil {
		return nil, err
	}
	if err := initdb(ctx, cfg, pg.dataDir, cred); err != nil {
		return nil, err
	}

	autoPort := cfg.Port == 0
	for attempt := 1; ; attempt++ {
		pg.port = cfg.Port
		if autoPort {
			if pg.port, err = FreePort(); err != nil {
				return nil, err
			}
		} else if err := CheckPortFree(pg.port, "postgres"); err != nil {
			return nil, err
		}
		err = pg.start(ctx, cfg, cred)
		if err == nil {
			started = true
			return pg, nil
		}
		// Another process may have taken a "free" port between FreePort
		// and the bind; try another rather than fail a whole test run.
		if !autoPort || attempt == 3 || !strings.Contains(TailFile(cfg.LogPath, 20), "could not bind") {
			return nil, err
		}
	}
}

// postgresCredential returns the credential to run PostgreSQL with: nil
// normally, the `postgres` system user when we are root (postgres refuses to
// run as root).
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root needs the `postgres` system user to run the server: %w; %s", err, errDeps)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres: user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDataDir creates dataDir (mode 0700, as initdb and postgres demand)
// and, when running as another user, hands it over and checks that user can
// reach it at all.
func prepareDataDir(dataDir string, cred *syscall.Credential) error {
	parent := filepath.Dir(dataDir)
	if cred != nil {
		// Check before creating anything, so a wrong place leaves no
		// empty directories behind.
		existing := parent
		for _, err := os.Stat(existing); err != nil && existing != filepath.Dir(existing); _, err = os.Stat(existing) {
			existing = filepath.Dir(existing)
		}
		if err := reachable(existing, cred); err != nil {
			return fmt.Errorf("postgres: data dir %s: %w", dataDir, err)
		}
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("postgres: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := reachable(parent, cred); err != nil {
		return fmt.Errorf("postgres: data dir %s: %w", dataDir, err)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == cred.Uid {
		return nil
	}
	// Created by us just now, or left by a run as another user: the server
	// only starts on a directory its own user owns.
	err = filepath.WalkDir(dataDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		return fmt.Errorf("postgres: chown %s to the postgres user: %w", dataDir, err)
	}
	return nil
}

// reachable checks that every directory from / down to dir can be searched by
// the user in cred, so a data dir under /root fails with a clear message
// rather than a permission error in the server log.
func reachable(dir string, cred *syscall.Credential) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		canSearch := perm&0o001 != 0 ||
			(st.Uid == cred.Uid && perm&0o100 != 0) ||
			(st.Gid == cred.Gid && perm&0o010 != 0)
		if !canSearch {
			return fmt.Errorf("the postgres system user cannot enter %s (mode %04o, owner uid %d); "+
				"when running as root put the data directory under /tmp", d, perm, st.Uid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// initdb creates the cluster unless dataDir already holds one, which is how a
// second `make run` keeps its data.
func initdb(ctx context.Context, cfg PostgresConfig, dataDir string, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("postgres: %s is neither empty nor a PostgreSQL cluster (no PG_VERSION); remove it or choose another directory", dataDir)
	}

	// initdb reads the superuser password from a file, which the server's
	// user must be able to read; it is deleted right after.
	pwDir, err := os.MkdirTemp(filepath.Dir(dataDir), ".initdb-")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer os.RemoveAll(pwDir)
	pwFile := filepath.Join(pwDir, "pw")
	if err := os.WriteFile(pwFile, []byte(PostgresPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if cred != nil {
		for _, p := range []string{pwDir, pwFile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
		}
	}

	args := []string{
		"--pgdata=" + dataDir,
		"--username=" + PostgresUser,
		"--pwfile=" + pwFile,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
	}
	if cfg.NoFsync {
		args = append(args, "--no-sync")
	}
	proc, err := StartProcess(ctx, ProcessConfig{
		Name:       "initdb",
		Path:       filepath.Join(cfg.BinDir, "initdb"),
		Args:       args,
		LogPath:    cfg.LogPath,
		Dir:        filepath.Dir(dataDir), // the server user may not reach our cwd
		Credential: cred,
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	select {
	case <-proc.Done():
	case <-ctx.Done():
		_ = proc.Kill()
		return fmt.Errorf("postgres: initdb: %w", ctx.Err())
	}
	if err := proc.Err(); err != nil {
		return fmt.Errorf("postgres: initdb %s: %w\n%s", dataDir, err, TailFile(cfg.LogPath, 20))
	}
	return nil
}

// start runs the server and waits for it to accept the superuser.
func (pg *Postgres) start(ctx context.Context, cfg PostgresConfig, cred *syscall.Credential) error {
	args := []string{
		"-D", pg.dataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(pg.port),
		// TCP only: no socket files whose path could exceed the kernel's
		// limit or collide with a system cluster's.
		"-c", "unix_socket_directories=",
		"-c", "max_connections=" + strconv.Itoa(cfg.MaxConnections),
	}
	if cfg.NoFsync {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	proc, err := StartProcess(ctx, ProcessConfig{
		Name:       "postgres",
		Path:       filepath.Join(cfg.BinDir, "postgres"),
		Args:       args,
		LogPath:    cfg.LogPath,
		Dir:        filepath.Dir(pg.dataDir),
		StopSignal: syscall.SIGINT, // fast shutdown: don't wait for clients
		Credential: cred,
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	pg.mu.Lock()
	pg.proc = proc
	pg.mu.Unlock()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = pg.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("postgres exited during startup (%v); log %s:\n%s", proc.Err(), cfg.LogPath, TailFile(cfg.LogPath, 20))
		case <-ctx.Done():
			_ = proc.Stop(5 * time.Second)
			return fmt.Errorf("postgres not ready on port %d: %w (last: %v); log %s:\n%s", pg.port, ctx.Err(), last, cfg.LogPath, TailFile(cfg.LogPath, 20))
		case <-tick.C:
		}
	}
}

func (pg *Postgres) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (pg *Postgres) Port() int { return pg.port }

// DataDir returns the cluster directory.
func (pg *Postgres) DataDir() string { return pg.dataDir }

// Process returns the server process (its log, its Done channel): after a
// Restart, the new one.
func (pg *Postgres) Process() *Process {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.proc
}

// URL returns a connection URL for database db as the kitshop superuser.
func (pg *Postgres) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(PostgresUser, PostgresPassword),
		Host:     "127.0.0.1:" + strconv.Itoa(pg.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// dbName is what CreateDatabase accepts: a plain lower-case identifier, so it
// can be quoted into CREATE DATABASE without escaping surprises.
var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates database name unless it exists and returns its URL.
// It is idempotent, so every start of the local stack may call it.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	if !dbName.MatchString(name) {
		return "", fmt.Errorf("create database %q: name must match %s", name, dbName)
	}
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	if !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		var pgErr *pgconn.PgError
		// 42P04 duplicate_database: someone else created it meanwhile.
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return pg.URL(name), nil
}

// Stop shuts the server down (fast shutdown, SIGKILL after 15 s) and deletes
// the cluster if it was a temporary one.
func (pg *Postgres) Stop() error {
	var err error
	if proc := pg.Process(); proc != nil {
		err = proc.Stop(postgresStopGrace)
	}
	if pg.tempDir != "" {
		err = errors.Join(err, os.RemoveAll(pg.tempDir))
	}
	return err
}
