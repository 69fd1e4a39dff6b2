package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
)

// Limits of the infrastructure test.
const (
	// pgRecoveryGoal is how soon after PostgreSQL is back everything must
	// work again: the services reconnect, pass their checks, take orders.
	pgRecoveryGoal = 10 * time.Second
	// infraRecoverTimeout bounds each wait for recovery, well past the goal,
	// so a miss is measured rather than cut short.
	infraRecoverTimeout = 60 * time.Second
	// infraCalm is how long the stream runs before a kill and after a
	// recovery.
	infraCalm = 3 * time.Second
	readPace  = 60 * time.Millisecond  // per reader
	orderPace = 150 * time.Millisecond // per orderer
	readers   = 3
	orderers  = 2
)

// Phases of the infrastructure stream: calm, then an outage from the kill
// until the stack has fully recovered.
const (
	infraBefore = iota
	infraConsulDown
	infraBetween
	infraPostgresDown
	infraAfter
	infraPhases
)

var infraPhaseNames = [infraPhases]string{
	"before", "Consul killed until recovered", "between", "Postgres killed until recovered", "after",
}

// outage reports whether p is an outage phase: a request under way at any
// time during one counts in it.
func outage(p int32) bool { return p == infraConsulDown || p == infraPostgresDown }

// TestInfraOutages runs the stack under Supervise, as `make run` does, with a
// stream of catalog reads and orders through the gateway, and kills its
// infrastructure with SIGKILL: first the Consul agent, then (separately) the
// PostgreSQL postmaster. The supervisor restarts each; the services register
// again in the new, empty Consul and reconnect to PostgreSQL by themselves.
// Reads must not fail while Consul is away (the gateway and the order
// service route from what they last knew), and within 10 s of PostgreSQL
// being back orders must succeed again, stored by the restarted server. It
// logs the failures of each phase and the time to full recovery.
func TestInfraOutages(t *testing.T) {
	cfg := local.DefaultConfig().WithFreePorts()
	cfg.TempPostgres = true
	cfg.RunDir = t.TempDir()
	cfg.Services = withArgs(t, cfg.Services, "order", orderTestArgs...)
	cfg.GatewayEnv = gatewayTestEnv
	cfg.BinDir = buildBinaries(t, cfg.Services)
	stack := startStack(t, cfg)

	superviseCtx, stopSupervising := context.WithCancel(context.Background())
	supervised := make(chan error, 1)
	go func() { supervised <- stack.Supervise(superviseCtx) }()
	// Before the stack's Stop (cleanups run last-in first-out).
	t.Cleanup(func() {
		stopSupervising()
		if err := <-supervised; err != nil {
			t.Errorf("Supervise: %v", err)
		}
	})

	c := newClient(stack.GatewayURL())
	sec := &secrets{}
	admin := login(t, c, sec, cfg.AdminEmail, cfg.AdminPassword).AccessToken
	e := newOrderEnv(t, stack, c, sec, admin, 1)
	cust := e.customers[0]
	p := e.product(t, "Infra mug", 900, "EUR", 1_000_000)
	body := orderBody(t, line{p.ID, 1})
	orderOnce := func() (string, error) {
		key := fmt.Sprintf("e2e-infra-%d-%d", time.Now().UnixNano(), orderSeq.Add(1))
		r, err := c.send(http.MethodPost, "/api/v1/orders", orderHeader(cust.token, key), body)
		if err != nil {
			return "", err
		}
		if r.Status != http.StatusCreated {
			return "", fmt.Errorf("status %d: %s", r.Status, truncate(r.Body))
		}
		var o placedOrder
		if err := json.Unmarshal(r.Body, &o); err != nil {
			return "", fmt.Errorf("order answer: %w", err)
		}
		return o.ID, nil
	}

	var (
		phase atomic.Int32
		reads infraTally
		buys  infraTally
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	stream := func(pace time.Duration, ta *infraTally, once func() error) {
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			start := phase.Load()
			err := once()
			end := phase.Load()
			p := start
			if outage(end) {
				p = end
			}
			ta.add(p, err)
		}
	}
	readURL := stack.GatewayURL() + "/api/v1/products?limit=5"
	httpClient := &http.Client{Timeout: streamTimeout}
	for range readers {
		wg.Go(func() {
			stream(readPace, &reads, func() error {
				if failure := probe(httpClient, readURL); failure != "" {
					return errors.New(failure)
				}
				return nil
			})
		})
	}
	for range orderers {
		wg.Go(func() {
			stream(orderPace, &buys, func() error { _, err := orderOnce(); return err })
		})
	}
	stopStream := sync.OnceFunc(func() { close(stop); wg.Wait(); httpClient.CloseIdleConnections() })
	defer stopStream()

	time.Sleep(infraCalm)

	// Consul: SIGKILL, so nothing deregisters; the restarted -dev agent
	// knows nobody.
	phase.Store(infraConsulDown)
	consul := processNamed(t, stack, "consul")
	killedAt := time.Now()
	if err := consul.Kill(); err != nil {
		t.Fatalf("SIGKILL consul: %v", err)
	}
	passingAt, orderAt, err := awaitRecovery(stack, orderOnce)
	if err != nil {
		t.Errorf("after killing Consul: %v", err)
	}
	phase.Store(infraBetween)
	t.Logf("consul: SIGKILLed; every instance registered and passing in the new agent %s later, an order placed %s later",
		passingAt.Sub(killedAt).Round(time.Millisecond), orderAt.Sub(killedAt).Round(time.Millisecond))
	time.Sleep(infraCalm)

	// PostgreSQL: SIGKILL of the postmaster alone, as the OOM killer would;
	// its backends are left behind for the supervisor to clear.
	phase.Store(infraPostgresDown)
	oldPG := stack.Postgres().Process()
	cacheOn := filepath.Join(stack.LogDir(), "product-1.log")
	cacheOnBefore := countInLog(t, cacheOn, "product cache on")
	killedAt = time.Now()
	if err := syscall.Kill(oldPG.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL postmaster: %v", err)
	}
	backAt, err := awaitPostgresBack(stack, oldPG)
	if err != nil {
		t.Fatalf("after killing the postmaster: %v", err)
	}
	passingAt, orderAt, err = awaitRecovery(stack, orderOnce)
	if err != nil {
		t.Errorf("after restarting Postgres: %v", err)
	}
	phase.Store(infraAfter)
	recovered := orderAt.Sub(backAt) // orders are tried once every instance passes
	t.Logf("postgres: postmaster (pid %d) SIGKILLed; the supervisor had it back (pid %d) %s later; "+
		"every instance passing %s and an order placed %s after that",
		oldPG.Pid(), stack.Postgres().Process().Pid(), backAt.Sub(killedAt).Round(time.Millisecond),
		passingAt.Sub(backAt).Round(time.Millisecond), orderAt.Sub(backAt).Round(time.Millisecond))
	if err == nil && recovered > pgRecoveryGoal {
		t.Errorf("full recovery took %s after Postgres was back, want at most %s", recovered.Round(time.Millisecond), pgRecoveryGoal)
	}
	// The order placed just now is in the restarted server's database.
	id, err := orderOnce()
	if err != nil {
		t.Errorf("an order after the recovery: %v", err)
	} else if dbOrders(t, stack)[id] == nil {
		t.Errorf("order %s answered 201 but is not in the restarted server's order database", id)
	}
	// The product cache listens again (it is off while it cannot).
	deadline := backAt.Add(pgRecoveryGoal)
	for countInLog(t, cacheOn, "product cache on") == cacheOnBefore && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if countInLog(t, cacheOn, "product cache on") == cacheOnBefore {
		t.Errorf("product-1's cache did not listen again within %s of Postgres being back", pgRecoveryGoal)
	}
	time.Sleep(infraCalm)
	stopStream()

	for p := range infraPhases {
		t.Logf("%-33s reads %4d ok, %3d failed %v", infraPhaseNames[p]+":", reads.ok[p], reads.failed[p], reads.examples[p])
		t.Logf("%-33s orders %3d ok, %3d failed %v", "", buys.ok[p], buys.failed[p], buys.examples[p])
	}
	if n := reads.failed[infraConsulDown]; n != 0 {
		t.Errorf("%d reads failed while Consul was away, want 0", n)
	}
	for _, p := range []int{infraBefore, infraBetween, infraAfter} {
		if n := reads.failed[p] + buys.failed[p]; n != 0 {
			t.Errorf("%d requests failed %s, want 0", n, infraPhaseNames[p])
		}
	}
	for _, p := range []int{infraBefore, infraConsulDown, infraAfter} {
		if reads.ok[p] < 10 || buys.ok[p] < 3 {
			t.Errorf("only %d reads and %d orders succeeded %s: the stream did not run", reads.ok[p], buys.ok[p], infraPhaseNames[p])
		}
	}
}

// orderSeq makes idempotency keys unique within the test binary.
var orderSeq atomic.Int64

// infraTally counts outcomes per phase.
type infraTally struct {
	mu       sync.Mutex
	ok       [infraPhases]int
	failed   [infraPhases]int
	examples [infraPhases][]string
}

func (ta *infraTally) add(phase int32, err error) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if err == nil {
		ta.ok[phase]++
		return
	}
	ta.failed[phase]++
	if len(ta.examples[phase]) < 3 {
		ta.examples[phase] = append(ta.examples[phase], err.Error())
	}
}

// processNamed returns the stack's process with the given name.
func processNamed(t *testing.T, stack *local.Stack, name string) *devenv.Process {
	t.Helper()
	for _, p := range stack.Processes() {
		if p.Name() == name {
			return p
		}
	}
	t.Fatalf("no process %q in the stack", name)
	return nil
}

// awaitPostgresBack waits until the supervisor has replaced old with a
// server that accepts connections, and returns when that was seen.
func awaitPostgresBack(stack *local.Stack, old *devenv.Process) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), infraRecoverTimeout)
	defer cancel()
	var last error
	for {
		if stack.Postgres().Process() != old {
			conn, err := pgx.Connect(ctx, stack.Postgres().URL("postgres"))
			if err == nil {
				conn.Close(ctx)
				return time.Now(), nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("postgres not back within %s (last: %v)", infraRecoverTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitRecovery waits until every instance of the stack is registered and
// passing in Consul, and then until an order succeeds; it returns when each
// was first seen.
func awaitRecovery(stack *local.Stack, order func() (string, error)) (passing, ordered time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), infraRecoverTimeout)
	defer cancel()
	var last error
	for passing.IsZero() {
		last = allPassing(ctx, stack)
		if last == nil {
			passing = time.Now()
			break
		}
		select {
		case <-ctx.Done():
			return passing, ordered, fmt.Errorf("not every instance passing within %s (last: %v)", infraRecoverTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		if _, last = order(); last == nil {
			return passing, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return passing, ordered, fmt.Errorf("no order succeeded within %s (last: %v)", infraRecoverTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// allPassing reports which instance is not registered and passing, if any.
func allPassing(ctx context.Context, stack *local.Stack) error {
	for _, svc := range local.DefaultConfig().Services {
		entries, err := consulHealth(ctx, stack, svc.Name, "?passing")
		if err != nil {
			return err
		}
		for _, inst := range stack.Instances(svc.Name) {
			found := false
			for _, e := range entries {
				found = found || e.Service.ID == inst.ID
			}
			if !found {
				return fmt.Errorf("%s not passing", inst.ID)
			}
		}
	}
	return nil
}
