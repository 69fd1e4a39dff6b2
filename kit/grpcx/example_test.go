package grpcx_test

import (
	"context"
	"fmt"
	"net"

	"github.com/go-kit/log"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
)

func Example() {
	// Server side: register services on a grpcx server and serve.
	srv := grpcx.NewServer(log.NewNopLogger())
	h := health.New()
	h.SetReady(true)
	healthpb.RegisterHealthServer(srv, h.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	// Client side: errors come back as *errs.Error.
	cc, err := grpcx.Dial(lis.Addr().String())
	if err != nil {
		panic(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)

	resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "unknown.Service"})
	fmt.Println(errs.KindOf(err), errs.Message(err))
	// Output:
	// SERVING <nil>
	// not_found unknown service
}
