// Command kitctl is the operator's command line of a kitshop deployment:
// the services in Consul, gRPC calls by name, health, the live
// configuration, and the event broker's dead letters. The commands live in
// internal/kitctl; run kitctl --help for them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kitshop/kitshop/internal/kitctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kitctl.Execute(ctx, kitctl.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
