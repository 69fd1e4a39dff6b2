package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kitshop/kitshop/kit/version"
)

// BuildFunc builds a service: it calls New, wires the service's layers on
// the App, and returns it ready to Run. On an error it has closed the App.
type BuildFunc func(ctx context.Context, args []string, stderr io.Writer) (*App, error)

// Start builds the service and runs it until ctx ends.
func Start(ctx context.Context, build BuildFunc, args []string, stderr io.Writer) error {
	a, err := build(ctx, args, stderr)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// Main is a service's func main: it runs build's service with the
// command-line arguments until SIGINT or SIGTERM, and exits 1 with the
// error when it fails.
func Main(name string, build BuildFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Start(ctx, build, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		// -h: the usage is printed; not a failure.
	case errors.Is(err, ErrVersion):
		version.Print(os.Stdout, name)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Fail closes a and returns err: the one line a build function needs when a
// step after New fails.
func (a *App) Fail(err error) (*App, error) {
	a.Close()
	return nil, err
}
