package consul_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/consul"
)

// A service registers itself; server.Run calls Register once it is serving
// and Deregister when it shuts down.
func ExampleNewRegistrar() {
	logger := log.NewLogfmtLogger(os.Stderr)
	client, err := consul.NewClient("127.0.0.1:8500")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := consul.NewRegistrar(client, consul.Registration{
		Name:      "product",
		Address:   "127.0.0.1",
		HTTPPort:  8081,
		GRPCPort:  9081,
		APIPrefix: "/api/v1/products",
	}, logger)

	go func() { _ = r.Register(context.Background()) }() // retries until Consul is up
	// ... serve ...
	_ = r.Deregister(context.Background())
}

// A caller follows a dependency with a Watcher and picks an instance per
// request with a RoundRobin.
func ExampleWatcher() {
	logger := log.NewLogfmtLogger(os.Stderr)
	client, err := consul.NewClient("127.0.0.1:8500")
	if err != nil {
		fmt.Println(err)
		return
	}
	products := consul.NewWatcher(client, "product", logger)
	defer products.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := products.Ready(ctx); err != nil {
		fmt.Println("consul not reachable yet:", err) // the watcher keeps trying
	}

	rr := consul.NewRoundRobin()
	if in, ok := rr.Next(products.Instances(), nil); ok {
		fmt.Println("calling", in.GRPCAddr())
	}
}

// NewInstancer plugs a Watcher into go-kit's endpointer and balancers.
func ExampleNewInstancer() {
	logger := log.NewLogfmtLogger(os.Stderr)
	client, err := consul.NewClient("127.0.0.1:8500")
	if err != nil {
		fmt.Println(err)
		return
	}
	products := consul.NewWatcher(client, "product", logger)
	defer products.Stop()

	instancer := consul.NewInstancer(products, consul.Instance.HTTPAddr)
	defer instancer.Stop()
	factory := func(addr string) (endpoint.Endpoint, io.Closer, error) {
		return func(ctx context.Context, req any) (any, error) { return "response from " + addr, nil }, nil, nil
	}
	endpointer := sd.NewEndpointer(instancer, factory, logger)
	defer endpointer.Close()
	balanced := lb.Retry(3, time.Second, lb.NewRoundRobin(endpointer))
	_ = balanced
}

func ExampleRoundRobin_Next() {
	instances := []consul.Instance{
		{ID: "product-a", Address: "127.0.0.1", HTTPPort: 8081},
		{ID: "product-b", Address: "127.0.0.1", HTTPPort: 8082},
		{ID: "product-c", Address: "127.0.0.1", HTTPPort: 8083},
	}
	rr := consul.NewRoundRobin()
	tried := map[string]bool{"product-b": true} // e.g. failed on this attempt already
	skip := func(in consul.Instance) bool { return tried[in.ID] }
	for range 4 {
		in, _ := rr.Next(instances, skip)
		fmt.Println(in.HTTPAddr())
	}
	// Output:
	// 127.0.0.1:8081
	// 127.0.0.1:8083
	// 127.0.0.1:8083
	// 127.0.0.1:8081
}
