package server_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/server"
)

// The end of a service's main: listeners on the configured addresses, the
// transports built by the service package, and Run until SIGTERM.
func ExampleRun() {
	logger := log.NewLogfmtLogger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	httpLn, err := net.Listen("tcp", ":8081")
	if err != nil {
		logger.Log("msg", "listen", "err", err)
		os.Exit(1)
	}
	grpcLn, err := net.Listen("tcp", ":9081")
	if err != nil {
		logger.Log("msg", "listen", "err", err)
		os.Exit(1)
	}
	grpcServer := grpcx.NewServer(logger)
	// productv1.RegisterProductServiceServer(grpcServer, ...)

	err = server.Run(ctx, server.Config{
		Name:         "product",
		Logger:       logger,
		HTTPListener: httpLn,
		Handler:      http.NotFoundHandler(), // the service's HTTP transport
		GRPCListener: grpcLn,
		GRPCServer:   grpcServer,
		Health:       health.New( /* postgres.HealthCheck(pool) */ ),
		// Registrar: consul.NewRegistrar(...),
		// Closers:   []func(){pool.Close},
	})
	if err != nil {
		logger.Log("msg", "server failed", "err", err)
		os.Exit(1)
	}
}
