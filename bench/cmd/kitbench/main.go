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
	"syscall"
	"time"

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
	ctx, cancel := context.WithTimeout(ctx, estimate(o, len(targetKeys()))+5*time.Minute)
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
	if env, err = traceRows(ctx, o, env, rep, stderr); err != nil {
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
	return []string{"bare", gozeroKey, "product", "product-nocache", "gateway-get", "gateway-get-nocache", "gateway-list", "gateway-expand",
		"gateway-slow-rr", "gateway-slow-p2c", "storefront", "order", "order-many", "grpc", traceRowsKey}
}

// The measurements after the table, which -only can pick too: the event
// pipeline on its own, and orders through the whole pipeline.
const (
	eventsKey   = "events"
	pipelineKey = "pipeline"
)

// onlyKeys are what -only accepts: the rows, then the measurements after
// the table.
func onlyKeys() []string { return append(targetKeys(), eventsKey, pipelineKey) }

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
