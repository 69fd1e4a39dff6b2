package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/postgres"
)

// freezer forwards TCP connections to a Postgres server and can freeze
// them: while frozen it still accepts connections (as the kernel does for a
// SIGSTOPped postmaster) but passes no byte either way, so the server looks
// exactly like a paused one.
type freezer struct {
	ln        net.Listener
	mu        sync.Mutex
	thawed    chan struct{} // closed while not frozen
	newThawed chan struct{} // closed unless connections made from now on are frozen
	conns     []net.Conn
	wg        sync.WaitGroup
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, thawed: make(chan struct{}), newThawed: make(chan struct{})}
	close(f.thawed)
	close(f.newThawed)
	f.wg.Go(func() {
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
			f.mu.Lock()
			f.conns = append(f.conns, client, server)
			own := f.newThawed
			f.mu.Unlock()
			f.wg.Go(func() { f.pipe(server, client, own) })
			f.wg.Go(func() { f.pipe(client, server, own) })
		}
	})
	t.Cleanup(func() {
		f.thaw()
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// pipe copies src to dst, holding each chunk while frozen, and while own
// (the connection's own gate) is open.
func (f *freezer) pipe(dst, src net.Conn, own chan struct{}) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			thawed := f.thawed
			f.mu.Unlock()
			<-thawed
			<-own
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				src.Close()
			}
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.thawed:
		f.thawed = make(chan struct{})
	default:
	}
}

// freezeNew freezes the connections made from now on, and them only.
func (f *freezer) freezeNew() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.newThawed:
		f.newThawed = make(chan struct{})
	default:
	}
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range []chan struct{}{f.thawed, f.newThawed} {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
}

func (f *freezer) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// Timings of the guard under test: short, so the test is quick.
const (
	testProbeEvery   = 50 * time.Millisecond
	testProbeTimeout = 200 * time.Millisecond
)

// guarded opens a guarded pool on a fresh database through a freezer.
func guarded(t *testing.T) (*pgxpool.Pool, *postgres.Guard, *freezer) {
	t.Helper()
	target := "127.0.0.1:" + strconv.Itoa(testenv.Postgres(t).Port())
	f := startFreezer(t, target)
	g := postgres.NewGuard(postgres.GuardOptions{ProbeEvery: testProbeEvery, ProbeTimeout: testProbeTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, withHost(t, testenv.Database(t), f.port()),
		postgres.WithGuard(g), postgres.WithConnectTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop(); pool.Close() })
	if err := postgres.Migrate(ctx, pool, migrations); err != nil {
		t.Fatal(err)
	}
	return pool, g, f
}

// waitFor polls cond every 10 ms for up to limit and reports how long it
// took to hold.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	for !cond() {
		if time.Since(begin) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(begin)
}

func TestGuardFailsFastWhileTheDatabaseIsFrozen(t *testing.T) {
	pool, g, f := guarded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, "INSERT INTO items (sku, price_cents, name) VALUES ('a', 1, 'mug')"); err != nil {
		t.Fatal(err)
	}

	f.freeze()
	// A statement in flight when the server stops is interrupted once the
	// probe notices, not left to the caller's 30 s deadline.
	begin := time.Now()
	_, err := pool.Exec(ctx, "UPDATE items SET price_cents = 2")
	inFlight := time.Since(begin)
	if err == nil {
		t.Fatal("UPDATE succeeded on a frozen server")
	}
	if limit := 10 * (testProbeEvery + testProbeTimeout); inFlight > limit {
		t.Errorf("statement in flight failed after %v, want well under %v", inFlight, limit)
	}
	if g.Up() {
		t.Error("guard up after a statement timed out")
	}
	t.Logf("in-flight statement failed after %v", inFlight)

	// While frozen every call fails at once, as Unavailable with a retry
	// hint.
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Exec", func() error {
			_, err := pool.Exec(ctx, "UPDATE items SET price_cents = 3")
			return err
		}},
		{"QueryRow", func() error {
			var n int
			return pool.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n)
		}},
		{"InTx", func() error {
			return postgres.InTx(ctx, pool, func(tx pgx.Tx) error { return nil })
		}},
		{"Guard.Err", g.Err},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			err := tc.call()
			took := time.Since(begin)
			if err == nil {
				t.Fatal("succeeded on a frozen server")
			}
			if took > testProbeTimeout {
				t.Errorf("failed after %v, want at once", took)
			}
			if !errs.Is(err, errs.Unavailable) {
				t.Errorf("error %v is %v, want Unavailable", err, errs.KindOf(err))
			}
		})
	}
	if d := errs.RetryAfterOf(g.Err()); d != postgres.RetryAfter {
		t.Errorf("Guard.Err retry hint = %v, want %v", d, postgres.RetryAfter)
	}
	check := g.HealthCheck(nil).Func(ctx)
	if check == nil || health.IsDegraded(check) {
		t.Errorf("health check without a fallback = %v, want failing", check)
	}
	if check := g.HealthCheck(func() bool { return true }).Func(ctx); !health.IsDegraded(check) {
		t.Errorf("health check with a fallback = %v, want degraded", check)
	}

	f.thaw()
	back := waitFor(t, 3*time.Second, "guard up after thaw", g.Up)
	t.Logf("guard up %v after the thaw", back)
	if _, err := pool.Exec(ctx, "UPDATE items SET price_cents = 4"); err != nil {
		t.Errorf("UPDATE after the thaw: %v", err)
	}
	if err := g.HealthCheck(nil).Func(ctx); err != nil {
		t.Errorf("health check after the thaw: %v", err)
	}
}

func TestGuardIgnoresAnswersAndCallersLeaving(t *testing.T) {
	pool, g, _ := guarded(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "INSERT INTO items (sku, price_cents, name) VALUES ('dup', 1, 'mug')"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"unique violation", func() error {
			_, err := pool.Exec(ctx, "INSERT INTO items (sku, price_cents, name) VALUES ('dup', 1, 'mug')")
			return err
		}},
		{"no rows", func() error {
			var n int
			return pool.QueryRow(ctx, "SELECT price_cents FROM items WHERE sku = 'none'").Scan(&n)
		}},
		{"syntax error", func() error {
			_, err := pool.Exec(ctx, "SELEC 1")
			return err
		}},
		{"statement_timeout", func() error {
			return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 10"); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "SELECT pg_sleep(1)")
				return err
			})
		}},
		{"caller cancels", func() error {
			cctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := pool.Exec(cctx, "SELECT pg_sleep(1)")
			return err
		}},
		// The probe's pings are answered while the statement runs: the
		// server is slow, not gone.
		{"caller's deadline, server answering", func() error {
			cctx, cancel := context.WithTimeout(ctx, 6*testProbeEvery)
			defer cancel()
			_, err := pool.Exec(cctx, "SELECT pg_sleep(2)")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Fatal("call succeeded, want an error")
			}
			if !g.Up() {
				t.Error("guard down, yet the server answered (or the caller left)")
			}
		})
	}
}

func TestOpenTimeoutOptions(t *testing.T) {
	dbURL := testenv.Database(t)
	tests := []struct {
		name          string
		url           string
		wantStatement string
		wantLock      string
	}{
		{"options", dbURL, "5s", "2s"},
		{"url wins", dbURL + "&statement_timeout=7000", "7s", "2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pool, err := postgres.Open(ctx, tt.url,
				postgres.WithStatementTimeout(5*time.Second), postgres.WithLockTimeout(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			var statement, lock string
			if err := pool.QueryRow(ctx, "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')").Scan(&statement, &lock); err != nil {
				t.Fatal(err)
			}
			if statement != tt.wantStatement || lock != tt.wantLock {
				t.Errorf("statement_timeout, lock_timeout = %s, %s; want %s, %s", statement, lock, tt.wantStatement, tt.wantLock)
			}
		})
	}
}

// TestGuardProbeFailsOnlyWithoutAnswers makes the probe's own connection
// hang while the pool's keep answering: the probe's failures must not open
// the circuit while the server answers others, and must once nothing does.
func TestGuardProbeFailsOnlyWithoutAnswers(t *testing.T) {
	pool, g, f := guarded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Acquire(ctx) // held, so the load below needs no new connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()

	// The probe's reconnection will hang: kill its backend (it is the one
	// that pings) once new connections are frozen.
	const probeBackend = "FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND query = '-- ping'"
	waitFor(t, 5*time.Second, "the probe connected", func() bool {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) "+probeBackend).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	f.freezeNew()
	if tag, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) "+probeBackend); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminating the probe's backend: %v, %d rows; want 1", err, tag.RowsAffected())
	}

	answering, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(answering)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Errorf("SELECT 1 on a held connection: %v", err)
				return
			}
		}
	}()
	for end := time.Now().Add(10 * (testProbeEvery + testProbeTimeout)); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if !g.Up() {
			close(stop)
			<-answering
			t.Fatal("guard down while the server answered the pool")
		}
	}
	close(stop)
	<-answering

	waitFor(t, 10*(testProbeEvery+testProbeTimeout), "guard down once nothing answers", func() bool { return !g.Up() })
	f.thaw()
	waitFor(t, 3*time.Second, "guard up after the thaw", g.Up)
}
