package local_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
)

// Time limits of the end-to-end test. The build may compile from scratch on a
// cold cache; everything after it should take well under a minute.
const (
	buildTimeout = 5 * time.Minute
	startTimeout = 2 * time.Minute
)

// TestEndToEnd runs the real system — the service and gateway binaries built
// from this tree, PostgreSQL, Consul, the user service, two product
// instances, the order service and the gateway — and drives it as a client
// would, through the gateway: the seeded catalog, the Consul registrations,
// accounts and tokens, CRUD as the admin, the access rules (also straight at
// a product instance, past the gateway), forged tokens, bad input, orders
// (their life, bad input, a rush on scarce stock, the order service killed
// mid-stream, a catalog outage, each checked against both databases), the
// loss of a product instance, a clean shutdown, and logs without a password,
// token or secret. Nothing is skipped: a missing PostgreSQL or Consul fails
// the test and says to run `make deps`.
func TestEndToEnd(t *testing.T) {
	began := time.Now()
	cfg := e2eConfig(t)
	cfg.BinDir = buildBinaries(t, cfg.Services)
	built := time.Now()

	stack := startStack(t, cfg)
	t.Logf("stack up in %s (build took %s)", time.Since(built).Round(time.Millisecond), built.Sub(began).Round(time.Millisecond))
	c := newGatewayClient(t, stack.GatewayURL())
	sec := &secrets{}
	sec.add(cfg.AdminPassword, cfg.ServiceSecret)

	// The callers of the catalog tests; without them nothing below
	// makes sense, so failing to get them ends the test.
	admin := login(t, c, sec, cfg.AdminEmail, cfg.AdminPassword).AccessToken
	email, password := signUp(t, c, sec)
	customer := login(t, c, sec, email, password).AccessToken

	t.Run("catalog", func(t *testing.T) { testCatalog(t, c) })
	t.Run("consul lists every instance", func(t *testing.T) { testConsulInstances(t, stack) })
	t.Run("accounts and tokens", func(t *testing.T) { testAccounts(t, c, sec) })
	t.Run("admin", func(t *testing.T) { testAdmin(t, c, stack, cfg.AdminEmail, cfg.AdminPassword, admin) })
	t.Run("crud", func(t *testing.T) { testCRUD(t, c, admin) })
	t.Run("catalog rules", func(t *testing.T) { testCatalogRules(t, c, stack, admin, customer) })
	t.Run("forged tokens", func(t *testing.T) { testForgedTokens(t, c, stack, cfg.RunDir, customer) })
	t.Run("bad input", func(t *testing.T) { testBadInput(t, c, admin) })
	t.Run("metrics move", func(t *testing.T) { testMetrics(t, c, stack, customer) })

	// Orders. The outage comes last: it takes the catalog down and brings
	// it back.
	orders := newOrderEnv(t, stack, c, sec, admin, 4)
	t.Run("service secret off command lines", func(t *testing.T) { testServiceSecret(t, stack, cfg.ServiceSecret) })
	t.Run("orders", func(t *testing.T) { testOrderFlow(t, orders) })
	t.Run("order bad input", func(t *testing.T) { testOrderBadInput(t, orders) })
	t.Run("orders never oversell", func(t *testing.T) { testOrderConcurrency(t, orders) })
	t.Run("order service killed mid-flow", func(t *testing.T) { testOrderCrash(t, orders) })
	t.Run("catalog outage", func(t *testing.T) { testProductOutage(t, orders) })

	t.Run("failover", func(t *testing.T) { testFailover(t, stack) })
	t.Run("supervisor restarts a killed instance", func(t *testing.T) { testSupervise(t, stack) })
	t.Run("stop leaves no process", func(t *testing.T) {
		c.http.CloseIdleConnections() // nothing of ours holds the gateway's shutdown up
		testStop(t, stack, cfg.Services)
	})
	t.Run("no password or token in any log", func(t *testing.T) { testLogsKeepSecrets(t, stack, sec) })

	t.Logf("end-to-end test took %s in all", time.Since(began).Round(time.Millisecond))
}

// buildBinaries builds the gateway and every service of the stack into a
// temporary directory, so the test runs this tree's code and never a stale
// bin/. The binaries are built without -race: the race detector is for the
// test binary, and it would slow the stack down for nothing.
func buildBinaries(t *testing.T, services []local.ServiceSpec) string {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// `go test` puts its own Go first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binaries: %v", err)
	}
	pkgs := []string{"./gateway/cmd/gateway"}
	for _, svc := range services {
		pkgs = append(pkgs, "./"+svc.Name+"/cmd/"+svc.Name)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// A trailing separator makes -o a directory for several packages.
	cmd := exec.CommandContext(ctx, goTool, append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return dir
}

// startStack starts the stack and arranges for it to be stopped, and for the
// end of every process log to be shown if the test fails (the logs live in a
// temporary directory that is gone afterwards).
func startStack(t *testing.T, cfg local.Config) *local.Stack {
	t.Helper()
	cfg.Progress = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	stack, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range stack.Processes() {
			t.Logf("last lines of %s (%s):\n%s", p.Name(), p.LogPath(), p.LogTail(15))
		}
	})
	return stack
}

// testWriter turns the stack's progress lines into test log lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// testStop stops the stack gracefully and checks that every process it
// started, and everything those forked, is gone.
func testStop(t *testing.T, stack *local.Stack, services []local.ServiceSpec) {
	procs := stack.Processes()
	want := 3 + 1 // postgres, consul, nats, gateway
	for _, svc := range services {
		want += len(stack.Instances(svc.Name))
	}
	if len(procs) != want {
		t.Errorf("stack has %d processes, want %d (postgres, consul, nats, instances, gateway)", len(procs), want)
	}
	began := time.Now()
	if err := stack.Stop(); err != nil {
		t.Errorf("Stop: %v (want every process to exit on its own within its grace period)", err)
	}
	t.Logf("graceful stop took %s", time.Since(began).Round(time.Millisecond))
	for _, p := range procs {
		if !gone(p) {
			t.Errorf("%s (pid %d) or a process in its group is still there after Stop", p.Name(), p.Pid())
		}
	}
}

// awaitConsistent polls cond until it holds, for at most a second, and
// returns how long that took: the time a change takes to reach every
// product instance's cache. It fails the test if cond never holds.
func awaitConsistent(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Second {
			t.Errorf("%s: the instances still disagree after %v", what, time.Since(start))
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// e2eConfig is the stack every end-to-end test starts from: free ports, a
// temporary cluster and run folder, the order service's quick recovery and
// the gateway's limits lifted. The admin password and the service secret
// are not the defaults, so a test proves they come from the config, and
// unique, so the logs can be searched for them.
func e2eConfig(t *testing.T) local.Config {
	t.Helper()
	cfg := local.DefaultConfig().WithFreePorts()
	cfg.TempPostgres = true
	cfg.RunDir = t.TempDir()
	cfg.AdminPassword = "e2e-Admin-" + randomHex(t, 8)
	cfg.ServiceSecret = "e2e-service-" + randomHex(t, 12)
	cfg.Services = withArgs(t, cfg.Services, "order", orderTestArgs...)
	cfg.GatewayEnv = gatewayTestEnv
	return cfg
}
