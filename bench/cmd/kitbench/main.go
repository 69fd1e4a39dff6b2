// Command kitbench measures what kitshop's layers cost, in one run on one
// machine: the bare handler (bench/cmd/bare: net/http and pgx, nothing
// else) is the limit, and every other row — a product instance, the
// gateway, an order, a gRPC reservation — is compared with it.
//
// It uses the stack that answers at -gateway, or starts one (deploy/local,
// free ports, a throwaway PostgreSQL, rate limits out of the way), starts
// the bare handler on the product database, creates a product with a huge
// stock and a customer, and then measures every target in rounds, the
// order rotated each round so that drift of the machine spreads over all of
// them. HTTP targets are driven by wrk (-t2 -c32 --latency); the gRPC
// target and the half-rate measurement by Go loops here. It prints one
// table and writes it to bench/results/latest.md and latest.json.
//
// Every flag can also be set as KITBENCH_<FLAG> in the environment. `make
// bench` builds everything and runs it; `make bench BENCH_FLAGS="-duration
// 3s -rounds 1"` is a quick look. -version prints the build and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/version"
)

func main() {
	// The open-loop generator runs in this process: its own collections would
	// show as latency of the system under test.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintf(os.Stderr, "kitbench: %v\n", err)
		os.Exit(1)
	}
}

// options are the settings of one run.
type options struct {
	gateway     string
	consul      string
	databaseURL string
	newStack    bool
	fixedPorts  bool
	root        string
	binDir      string
	out         string

	duration    time.Duration
	rounds      int
	warmup      time.Duration
	threads     int
	connections int
	grpcWorkers int
	wrk         string
	wrkTimeout  time.Duration
	halfRate    float64
	only        []string

	adminEmail    string
	adminPassword string

	showVersion bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("kitbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.gateway, "gateway", "http://127.0.0.1:8080", "gateway of a running stack to measure; when nothing answers there, kitbench starts its own stack")
	fs.StringVar(&o.consul, "consul", "http://127.0.0.1:8500", "Consul HTTP API of the running stack (to find the product instances)")
	fs.StringVar(&o.databaseURL, "database-url", "", "product database of the running stack, for the bare handler (default: make run's, 127.0.0.1:55432)")
	fs.BoolVar(&o.newStack, "new-stack", false, "start a stack even if one answers at -gateway")
	fs.BoolVar(&o.fixedPorts, "fixed-ports", false, "start the stack on make run's fixed ports instead of free ones")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory with the built binaries (default <repo>/bin)")
	fs.StringVar(&o.out, "out", "", "directory for latest.md and latest.json (default <repo>/bench/results; \"-\" writes nothing)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measuring time per target per round (whole seconds for wrk)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every target once, in a rotated order")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unrecorded load per target before the first round (0: none)")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.connections, "connections", 32, "wrk connections (-c)")
	fs.IntVar(&o.grpcWorkers, "grpc-workers", 32, "concurrent callers of the gRPC target (one connection, like a service's client)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk binary")
	fs.DurationVar(&o.wrkTimeout, "wrk-timeout", 2*time.Second, "wrk --timeout: slower requests count as errors")
	fs.Float64Var(&o.halfRate, "half-rate", 0.5, "fraction of the gateway's peak for the open-loop latency measurement (0: skip it)")
	only := fs.String("only", "", "comma-separated targets to measure (keys: "+strings.Join(targetKeys(), ", ")+"); default all")
	fs.StringVar(&o.adminEmail, "admin-email", local.DefaultAdminEmail, "admin account that creates the bench product")
	fs.StringVar(&o.adminPassword, "admin-password", local.DefaultAdminPassword, "its password (prefer KITBENCH_ADMIN_PASSWORD)")
	showVersion := version.Flag(fs)
	if err := config.Parse(fs, "KITBENCH", args); err != nil {
		return o, err
	}
	if *showVersion {
		return options{showVersion: true}, nil
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var problems []error
	if *only != "" {
		for _, k := range strings.Split(*only, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(targetKeys(), k) {
				problems = append(problems, fmt.Errorf("-only: unknown target %q (want %s)", k, strings.Join(targetKeys(), ", ")))
			}
			o.only = append(o.only, k)
		}
	}
	if o.duration < time.Second {
		problems = append(problems, errors.New("-duration must be at least 1s"))
	}
	if o.rounds < 1 || o.rounds > 20 {
		problems = append(problems, errors.New("-rounds must be 1..20"))
	}
	if o.warmup < 0 {
		problems = append(problems, errors.New("-warmup must not be negative"))
	}
	if o.threads < 1 || o.connections < o.threads || o.grpcWorkers < 1 {
		problems = append(problems, errors.New("-threads, -grpc-workers must be >= 1 and -connections >= -threads"))
	}
	if o.halfRate < 0 || o.halfRate >= 1 {
		problems = append(problems, errors.New("-half-rate must be in [0, 1)"))
	}
	if err := errors.Join(problems...); err != nil {
		return o, err
	}
	root, err := devenv.RepoRoot()
	if err != nil {
		exe, exeErr := os.Executable()
		if exeErr != nil {
			return o, err
		}
		if root, err = devenv.RepoRootFrom(filepath.Dir(exe)); err != nil {
			return o, err
		}
	}
	o.root = root
	if o.binDir == "" {
		o.binDir = filepath.Join(root, "bin")
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "results")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.showVersion {
		version.Print(stdout, "kitbench")
		return nil
	}
	if path, err := exec.LookPath(o.wrk); err != nil {
		return fmt.Errorf("wrk not found (%v): run `make deps` or install it (apt-get install wrk)", err)
	} else {
		o.wrk = path
	}
	// Bound the whole run: the stack's start, every measurement and its
	// margins. Each measurement bounds itself too.
	ctx, cancel := context.WithTimeout(ctx, estimate(o, 6)+5*time.Minute)
	defer cancel()

	env, err := openEnvironment(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stderr, "kitbench: stopping what it started")
		if err := env.Close(); err != nil {
			fmt.Fprintf(stderr, "kitbench: stop: %v\n", err)
		}
	}()

	h := &harness{o: o, env: env, log: stderr}
	rep, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, rep.Text())
	if o.out == "-" {
		return nil
	}
	if err := writeResults(o.out, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwritten: %s, %s\n", filepath.Join(o.out, "latest.md"), filepath.Join(o.out, "latest.json"))
	return nil
}

// targetKeys returns the keys of the table's rows, in table order.
func targetKeys() []string {
	return []string{"bare", "product", "product-nocache", "gateway-get", "gateway-list", "order", "grpc"}
}

// estimate is how long the measurements take with n targets.
func estimate(o options, n int) time.Duration {
	perRound := time.Duration(n) * (o.duration + time.Second)
	half := time.Duration(0)
	if o.halfRate > 0 {
		half = o.duration
	}
	return time.Duration(o.rounds)*perRound + time.Duration(n)*o.warmup + half
}

// goVersion is the toolchain kitbench was built with, which `make bench`
// also builds the services with.
func goVersion() string { return runtime.Version() }
