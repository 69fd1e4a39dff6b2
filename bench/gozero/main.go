package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/stores/postgres"
	"github.com/zeromicro/go-zero/rest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "gozero-peer: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8091", "HTTP listen address")
	devAddr := flag.String("dev-addr", "127.0.0.1:6060", "go-zero's dev server (metrics, pprof, health) listen address")
	dbURL := flag.String("database-url", os.Getenv("GOZERO_DATABASE_URL"), "Postgres URL of the product database (default $GOZERO_DATABASE_URL)")
	maxConns := flag.Int("max-conns", 0, "connection pool size; 0 means go-zero's sqlx default (64 open, 64 idle)")
	trace := flag.Bool("trace", false, "start go-zero's tracing agent as a config without Telemetry does (every request sampled, no exporter)")
	cpuThreshold := flag.Int64("cpu-threshold", -1, "CPU use (‰) above which the Shedding middleware drops requests; -1 means go-zero's default (900), 0 turns shedding off")
	flag.Parse()
	if *dbURL == "" {
		return errors.New("-database-url is required")
	}
	c, err := config(*addr, *devAddr, *trace, *cpuThreshold)
	if err != nil {
		return err
	}

	conn := postgres.New(*dbURL)
	db, err := conn.RawDB()
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if *maxConns > 0 {
		db.SetMaxOpenConns(*maxConns)
		db.SetMaxIdleConns(*maxConns)
	}
	// sqlx connects lazily; a wrong URL should stop the start, not fail
	// the first request.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = db.PingContext(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}

	server := rest.MustNewServer(c)
	defer server.Stop()
	server.AddRoutes([]rest.Route{
		{Method: http.MethodGet, Path: "/api/v1/products/:id", Handler: getProductHandler(conn)},
		{Method: http.MethodGet, Path: "/healthz", Handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("ok\n"))
		}},
	})
	fmt.Fprintf(os.Stderr, "gozero-peer: listening on %s\n", *addr)
	// go-zero's proc package turns SIGTERM into a graceful Shutdown, after
	// which Start returns.
	server.Start()
	return nil
}

// config is the RestConf a go-zero service gets from a YAML file naming only
// its name, host and port: every default filled in (conf.FillDefault does
// what conf.MustLoad does for absent keys), so the request path has what a
// go-zero service ships with — Mode pro, and the middlewares Trace, Log,
// Prometheus, MaxConns (10,000), Breaker, Shedding (CPU threshold 900‰),
// Timeout (3 s), Recover, Metrics, MaxBytes (1 MiB) and Gunzip — and the
// dev server's metrics, which make the Prometheus middleware record. sqlx
// keeps its per-query breaker and metrics. Changed:
//   - Log.Level error: the Log middleware still formats its line for every
//     request, but writes only failures; at info it would print every
//     request to the console, and the row would measure the terminal.
//   - Telemetry off unless -trace: without an endpoint go-zero still
//     samples and records every span, and the kitshop rows run with
//     tracing off. The Trace middleware stays in the chain.
//   - DevServer on -dev-addr instead of every interface's port 6060.
//   - CpuThreshold when -cpu-threshold says so. The shedder reads its
//     cgroup's CPU, on a bare machine the whole machine's: saturated by a
//     load generator and Postgres, it drops requests with 503, and the
//     Breaker middleware, counting those, drops more. kitbench turns it
//     off, as it raises every kitshop rate limit out of the way.
func config(addr, devAddr string, trace bool, cpuThreshold int64) (rest.RestConf, error) {
	var c rest.RestConf
	if err := conf.FillDefault(&c); err != nil {
		return c, err
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return c, fmt.Errorf("-addr: %w", err)
	}
	devHost, devPort, err := splitAddr(devAddr)
	if err != nil {
		return c, fmt.Errorf("-dev-addr: %w", err)
	}
	c.Name = "gozero-peer"
	c.Host, c.Port = host, port
	c.Log.Level = "error"
	c.Telemetry.Disabled = !trace
	c.DevServer.Host, c.DevServer.Port = devHost, devPort
	if cpuThreshold >= 0 {
		c.CpuThreshold = cpuThreshold
	}
	return c, nil
}

// splitAddr splits host:port, with a numeric port.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}
