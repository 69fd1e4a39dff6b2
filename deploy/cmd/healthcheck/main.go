// Command healthcheck probes an HTTP endpoint for container health checks:
//
//	healthcheck http://127.0.0.1:8081/readyz
//
// It exits 0 when the endpoint answers 2xx within the timeout (2s unless
// -timeout says otherwise) and 1 otherwise, with the reason on stderr (which
// `docker inspect` shows under State.Health). The kitshop images are built
// FROM scratch, without a shell or curl, so Docker's HEALTHCHECK and compose's
// healthcheck run this static binary instead. Redirects are not followed: a
// probe that redirects is misconfigured, not healthy. -version prints the
// build (kit/version) and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/kitshop/kitshop/kit/version"
)

// Exit codes, as Docker's HEALTHCHECK expects them.
const (
	exitHealthy   = 0
	exitUnhealthy = 1
	// exitUsage is also 1: Docker reserves 2, and a health check with bad
	// arguments is simply unhealthy.
	exitUsage = 1
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run probes the URL in args and returns the exit code; -version prints to
// stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "time limit for the whole request")
	showVersion := version.Flag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: healthcheck [-timeout 2s] http://127.0.0.1:8081/readyz")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *showVersion {
		version.Print(stdout, "healthcheck")
		return exitHealthy
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "healthcheck: -timeout must be positive")
		return exitUsage
	}
	target, err := url.Parse(fs.Arg(0))
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: %q is not an http(s) URL\n", fs.Arg(0))
		return exitUsage
	}
	if err := probe(ctx, target.String(), *timeout); err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitUnhealthy
	}
	return exitHealthy
}

// probe GETs target and returns nil for a 2xx status.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kitshop-healthcheck")
	client := &http.Client{
		// No proxy from the environment: the probe is always local.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %v", target, timeout)
		}
		return err
	}
	defer resp.Body.Close()
	// Drain a little so the server sees a clean close; the body is not shown
	// (it may be large, and the status says enough).
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return nil
}
