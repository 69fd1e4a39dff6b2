package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/version"
)

// options are the settings of one run.
type options struct {
	gateway     string
	natsURL     string
	eventRate   int
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
	pageRate    float64
	only        []string
	// traceRows measures the gateway GET row again on stacks that trace
	// (see traceModes); traceRatio is the tracing of the stack kitbench
	// starts, negative for none.
	traceRows  bool
	traceRatio float64

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
	fs.StringVar(&o.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS of the running stack, for the event pipeline measurement")
	fs.IntVar(&o.eventRate, "event-rate", 1000, "events a second of the event pipeline measurement (0: skip it and the order pipeline)")
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
	fs.BoolVar(&o.traceRows, "trace-rows", true, "when kitbench starts its own stack, measure the gateway GET row again with tracing on, every request sampled and at the default ratio, each on a stack of its own")
	o.traceRatio = -1
	fs.Float64Var(&o.pageRate, "page-rate", 200, "catalog pages a second of the storefront row, open loop (its goal: p99 under 20 ms at 200)")
	only := fs.String("only", "", "comma-separated targets to measure (keys: "+strings.Join(onlyKeys(), ", ")+"); default all")
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
			if !slices.Contains(onlyKeys(), k) {
				problems = append(problems, fmt.Errorf("-only: unknown target %q (want %s)", k, strings.Join(onlyKeys(), ", ")))
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
	if o.pageRate <= 0 || o.pageRate > 100000 {
		problems = append(problems, errors.New("-page-rate must be in (0, 100000]"))
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
