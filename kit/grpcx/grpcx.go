package grpcx

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/tracing"
)

// NewServer returns a gRPC server whose unary calls run through, outermost
// first: request id (kit/requestid), error mapping (errs.ToGRPC, logging the
// causes of Internal and Unavailable errors) and panic recovery (a panic is
// an Internal error). Streams get error mapping and recovery. Server
// reflection is registered, so grpcurl works without proto files.
//
// opts are appended; pass more interceptors with grpc.ChainUnaryInterceptor,
// they run inside these.
func NewServer(logger log.Logger, opts ...grpc.ServerOption) *grpc.Server {
	base := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			requestid.UnaryServerInterceptor(),
			unaryErrorInterceptor(logger),
			unaryRecoverInterceptor(logger),
		),
		grpc.ChainStreamInterceptor(
			streamErrorInterceptor(logger),
			streamRecoverInterceptor(logger),
		),
	}
	base = append(base, tracing.GRPCServerOptions()...)
	srv := grpc.NewServer(append(base, opts...)...)
	reflection.Register(srv)
	return srv
}

// Dial returns a client connection to target (such as "127.0.0.1:9081")
// without TLS (kitshop's services talk over a private network), whose calls
// send the context's request id and return *errs.Error values rebuilt from
// the status (errs.FromGRPC). Like grpc.NewClient, it does not connect until
// the first call. opts are appended.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(
			requestid.UnaryClientInterceptor(),
			unaryClientErrorInterceptor,
		),
		grpc.WithChainStreamInterceptor(streamClientErrorInterceptor),
	}
	base = append(base, tracing.GRPCDialOptions()...)
	cc, err := grpc.NewClient(target, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("grpcx: dial %s: %w", target, err)
	}
	return cc, nil
}

func unaryErrorInterceptor(logger log.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return resp, toStatus(ctx, logger, info.FullMethod, err)
		}
		return resp, nil
	}
}

func streamErrorInterceptor(logger log.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return toStatus(ss.Context(), logger, info.FullMethod, err)
		}
		return nil
	}
}

// toStatus logs failures and converts err for the wire. Statuses created by
// gRPC code (the health service's NotFound, say) pass through unchanged.
func toStatus(ctx context.Context, logger log.Logger, method string, err error) error {
	kind := errs.KindOf(err)
	var kitErr *errs.Error
	if st, ok := status.FromError(err); ok && !errors.As(err, &kitErr) {
		kind = errs.KindFromGRPCCode(st.Code())
	}
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The caller gave up; that is its business, not our failure.
		level.Debug(logging.WithRequest(logger, ctx)).Log("msg", "grpc call canceled by client", "method", method)
	case kind == errs.Internal || kind == errs.Unavailable:
		level.Error(logging.WithRequest(logger, ctx)).Log("msg", "grpc call failed", "method", method, "kind", kind, "err", err)
	}
	return errs.ToGRPC(err)
}

func unaryRecoverInterceptor(logger log.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = recovered(ctx, logger, info.FullMethod, p)
			}
		}()
		return handler(ctx, req)
	}
}

func streamRecoverInterceptor(logger log.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = recovered(ss.Context(), logger, info.FullMethod, p)
			}
		}()
		return handler(srv, ss)
	}
}

// recovered logs a panic with its stack and turns it into an Internal error,
// whose cause the error interceptor logs but never sends.
func recovered(ctx context.Context, logger log.Logger, method string, p any) error {
	level.Error(logging.WithRequest(logger, ctx)).Log("msg", "panic in grpc handler", "method", method,
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return errs.Wrap(fmt.Errorf("panic: %v", p), errs.Internal, "")
}

func unaryClientErrorInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return errs.FromGRPC(invoker(ctx, method, req, reply, cc, opts...))
}

func streamClientErrorInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, errs.FromGRPC(err)
	}
	return errorClientStream{cs}, nil
}

// errorClientStream maps the status errors of a client stream; io.EOF, the
// normal end of a stream, is not a status and passes through unchanged.
type errorClientStream struct {
	grpc.ClientStream
}

func (s errorClientStream) SendMsg(m any) error { return errs.FromGRPC(s.ClientStream.SendMsg(m)) }
func (s errorClientStream) RecvMsg(m any) error { return errs.FromGRPC(s.ClientStream.RecvMsg(m)) }
