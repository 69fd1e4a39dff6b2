package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var migrations = os.DirFS("testdata/migrations")

// migrated returns a pool on a fresh database with the test migrations.
func migrated(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, migrations); err != nil {
		t.Fatal(err)
	}
	return pool
}

// withHost returns rawURL pointing at 127.0.0.1:port instead.
func withHost(t *testing.T, rawURL string, port int) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(port)
	return u.String()
}

// startProxy forwards connections on 127.0.0.1:port to target until stop
// is called: a database server that appears late.
func startProxy(port int, target string) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Go(func() { io.Copy(server, client); server.Close() })
			wg.Go(func() { io.Copy(client, server); client.Close() })
		}
	})
	return func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}

func TestOpenWaitsForServer(t *testing.T) {
	realURL := testenv.Database(t)
	target := "127.0.0.1:" + strconv.Itoa(testenv.Postgres(t).Port())
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const late = 400 * time.Millisecond
	type started struct {
		stop func()
		err  error
	}
	proxied := make(chan started, 1)
	begin := time.Now()
	go func() {
		time.Sleep(late)
		stop, err := startProxy(port, target)
		proxied <- started{stop, err}
	}()
	pool, err := postgres.Open(ctx, withHost(t, realURL, port))
	p := <-proxied
	if p.err != nil {
		t.Fatalf("proxy: %v", p.err)
	}
	defer p.stop()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer pool.Close()
	if took := time.Since(begin); took < late {
		t.Errorf("Open returned after %v, before the server was there (%v)", took, late)
	}
	var one int
	if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("SELECT 1 = %d, %v", one, err)
	}
}

func TestOpenGivesUpWhenContextEnds(t *testing.T) {
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	pool, err := postgres.Open(ctx, "postgres://kitshop:s3cret-pw@127.0.0.1:"+strconv.Itoa(port)+"/x?sslmode=disable")
	took := time.Since(begin)
	if err == nil {
		pool.Close()
		t.Fatal("Open succeeded without a server")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error reveals the password: %v", err)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("Open gave up after %v, want about 300ms", took)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://kitshop:pw@127.0.0.1:notaport/x")
	if err == nil {
		t.Fatal("Open accepted a malformed URL")
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	pool := migrated(t) // first run
	ctx := context.Background()
	if err := postgres.Migrate(ctx, pool, migrations); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var version int64
	if err := pool.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 2 {
		t.Errorf("schema version = %d, want 2", version)
	}
	var applied int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 2 {
		t.Errorf("%d migrations recorded, want 2 (each applied once)", applied)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO items (sku, price_cents, name) VALUES ('a', 1, 'mug')"); err != nil {
		t.Errorf("schema incomplete: %v", err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := testenv.Database(t)
	errc := make(chan error, 3)
	for range 3 {
		go func() {
			pool, err := postgres.Open(ctx, dbURL)
			if err != nil {
				errc <- err
				return
			}
			defer pool.Close()
			errc <- postgres.Migrate(ctx, pool, migrations)
		}()
	}
	for range 3 {
		if err := <-errc; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
}

func TestMigrateBadMigration(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bad := fstest.MapFS{"00001_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE (;\n")}}
	if err := postgres.Migrate(ctx, pool, bad); err == nil {
		t.Error("Migrate applied a broken migration")
	}
}

func countItems(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInTx(t *testing.T) {
	errBusiness := errs.New(errs.Conflict, "out of stock")
	insertTwo := func(tx pgx.Tx) error {
		ctx := context.Background()
		if _, err := tx.Exec(ctx, "INSERT INTO items (sku, price_cents) VALUES ('one', 1)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO items (sku, price_cents) VALUES ('two', 2)")
		return err
	}
	tests := []struct {
		name      string
		fn        func(pgx.Tx) error
		wantErr   error // matched with errors.Is
		wantPanic bool
		wantRows  int
	}{
		{name: "commit", fn: insertTwo, wantRows: 2},
		{name: "error rolls back", fn: func(tx pgx.Tx) error {
			if err := insertTwo(tx); err != nil {
				return err
			}
			return errBusiness
		}, wantErr: errBusiness},
		{name: "panic rolls back", fn: func(tx pgx.Tx) error {
			if err := insertTwo(tx); err != nil {
				return err
			}
			panic("bug")
		}, wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := migrated(t)
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				err = postgres.InTx(context.Background(), pool, tt.fn)
				return false
			}()
			if panicked != tt.wantPanic {
				t.Errorf("panicked = %v, want %v", panicked, tt.wantPanic)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("InTx error = %v, want %v", err, tt.wantErr)
			}
			if got := countItems(t, pool); got != tt.wantRows {
				t.Errorf("%d rows after InTx, want %d", got, tt.wantRows)
			}
			// No session was left inside the transaction.
			var open int
			err = pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&open)
			if err != nil || open != 0 {
				t.Errorf("%d sessions left in a transaction (err %v)", open, err)
			}
		})
	}
}

func TestInTxBeginFailureIsUnavailable(t *testing.T) {
	pool := migrated(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := postgres.InTx(ctx, pool, func(pgx.Tx) error { return nil })
	if got, want := errs.KindOf(err), errs.Unavailable; got != want {
		t.Errorf("kind = %s, want %s (err %v)", got, want, err)
	}
}

func TestConstraintViolations(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "INSERT INTO items (sku, price_cents) VALUES ('taken', 1)"); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) error {
		// Through InTx, so the wrapping on the way out is covered too.
		return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, sql)
			return err
		})
	}
	type detector func(error) (string, bool)
	detectors := map[string]detector{
		"unique":      postgres.UniqueViolation,
		"check":       postgres.CheckViolation,
		"foreign key": postgres.ForeignKeyViolation,
	}
	tests := []struct {
		name           string
		err            error
		wantDetector   string // "" means none matches
		wantConstraint string
	}{
		{"duplicate", exec("INSERT INTO items (sku, price_cents) VALUES ('taken', 5)"), "unique", "items_sku_key"},
		{"check", exec("INSERT INTO items (sku, price_cents) VALUES ('free', 0)"), "check", "items_price_positive"},
		{"foreign key", exec("INSERT INTO items (sku, price_cents, category_id) VALUES ('orphan', 5, 999)"), "foreign key", "items_category_fk"},
		{"not null is none of them", exec("INSERT INTO items (sku) VALUES ('x')"), "", ""},
		{"syntax error", exec("SELEC 1"), "", ""},
		{"plain error", errors.New("23505"), "", ""},
		{"nil", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, detect := range detectors {
				constraint, ok := detect(tt.err)
				wantOK := name == tt.wantDetector
				if ok != wantOK {
					t.Errorf("%s violation = %v, want %v (err %v)", name, ok, wantOK, tt.err)
				}
				if wantOK && constraint != tt.wantConstraint {
					t.Errorf("%s constraint = %q, want %q", name, constraint, tt.wantConstraint)
				}
			}
		})
	}
}

func TestHealthCheck(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	check := postgres.HealthCheck(pool)
	if got, want := check.Name, "postgres"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	if err := check.Func(ctx); err != nil {
		t.Errorf("check on a live pool: %v", err)
	}
	pool.Close()
	err = check.Func(ctx)
	if got, want := errs.KindOf(err), errs.Unavailable; got != want {
		t.Errorf("check on a closed pool: kind %s, want %s (err %v)", got, want, err)
	}
	if got, want := errs.Message(err), "database unreachable"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}
