package web

import (
	"context"
	"io"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/middleware"
)

// Defaults of BackendOptions.
const (
	DefaultBackendTimeout  = 3 * time.Second
	DefaultBackendAttempts = 3
)

// BackendOptions tune a Backend. Zero fields take the defaults.
type BackendOptions struct {
	// Timeout bounds each call, all attempts together.
	Timeout time.Duration
	// Attempts is how many instances a call tries while they answer
	// Unavailable.
	Attempts int
	// Breaker guards every call; nil means none.
	Breaker breaker.Breaker
	Logger  log.Logger
}

// call is what goes through a Backend's endpoint: one RPC on the
// connection of the instance the balancer picked.
type call func(ctx context.Context, cc grpc.ClientConnInterface) (any, error)

// Backend is one service's gRPC API as the storefront reaches it: the
// instances an sd.Instancer reports (Consul in production), each call
// through a breaker (business answers count as successes), a deadline and
// retries on the next instance while one answers Unavailable. The caller's
// access token on the context (auth.NewTokenContext) is forwarded, so each
// service checks the customer's own rights.
//
// Retrying is safe for the storefront's calls: reads, and writes that are
// idempotent (an order with its idempotency key, a cancel, a mark-read) or
// guarded by a unique key (a product's SKU).
type Backend struct {
	name       string
	endpointer *sd.DefaultEndpointer
	ep         endpoint.Endpoint
}

// NewBackend returns the Backend of service (its name in messages) on the
// gRPC addresses instancer reports. Close releases the connections.
func NewBackend(service string, instancer sd.Instancer, opts BackendOptions) *Backend {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultBackendTimeout
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultBackendAttempts
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	endpointer := sd.NewEndpointer(instancer, connFactory, opts.Logger)
	chain := []endpoint.Middleware{middleware.Timeout(opts.Timeout)}
	if opts.Breaker != nil {
		chain = append([]endpoint.Middleware{breaker.Middleware(opts.Breaker)}, chain...)
	}
	ep := endpoint.Chain(chain[0], chain[1:]...)(middleware.RetryBalanced(lb.NewRoundRobin(endpointer), opts.Attempts, 0))
	return &Backend{name: service, endpointer: endpointer, ep: ep}
}

// Close closes the connections to every instance.
func (b *Backend) Close() { b.endpointer.Close() }

// connFactory makes the endpoint of one instance: one connection, with the
// caller's token forwarded, on which the request (a call) runs.
func connFactory(addr string) (endpoint.Endpoint, io.Closer, error) {
	cc, err := grpcx.Dial(addr, grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor()))
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, req any) (any, error) { return req.(call)(ctx, cc) }, cc, nil
}

// invoke runs fn on an instance of b and returns its typed answer. A
// failure that is not the service's answer becomes an Unavailable with a
// message a shopper can read; the cause stays for the logs.
func invoke[Resp any](ctx context.Context, b *Backend, fn func(context.Context, grpc.ClientConnInterface) (Resp, error)) (Resp, error) {
	var zero Resp
	resp, err := b.ep(ctx, call(func(ctx context.Context, cc grpc.ClientConnInterface) (any, error) { return fn(ctx, cc) }))
	if err != nil {
		if errs.KindOf(err).Business() {
			return zero, err
		}
		return zero, &errs.Error{Kind: errs.Unavailable, Message: "the " + b.name + " service is unavailable, try again in a moment",
			RetryAfter: max(errs.RetryAfterOf(err), time.Second), Err: err}
	}
	return resp.(Resp), nil
}
