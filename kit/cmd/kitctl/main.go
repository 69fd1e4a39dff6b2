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
