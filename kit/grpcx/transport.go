package grpcx

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
)

// ServerOptions are the go-kit server options of every service's gRPC
// transport: the caller's bearer token goes from the "authorization"
// metadata into the context (auth.GRPCToContext), and rejected calls
// (business errors) are logged at debug level, like kit/httpx does for HTTP.
// Failures are logged by NewServer's interceptor, so each error is logged
// once by the transport.
func ServerOptions(logger log.Logger) []grpctransport.ServerOption {
	return []grpctransport.ServerOption{
		grpctransport.ServerBefore(auth.GRPCToContext()),
		grpctransport.ServerErrorHandler(rejectionLogger{logger}),
	}
}

type rejectionLogger struct{ logger log.Logger }

func (l rejectionLogger) Handle(ctx context.Context, err error) {
	if kind := errs.KindOf(err); kind.Business() {
		level.Debug(logging.WithRequest(l.logger, ctx)).Log("msg", "request rejected", "kind", kind, "detail", errs.Message(err))
	}
}

// Serve runs a go-kit gRPC handler and asserts its response type, for the
// methods of a generated server interface, which want concrete types:
//
//	func (s *grpcServer) GetProduct(ctx context.Context, req *productv1.GetProductRequest) (*productv1.GetProductResponse, error) {
//		return grpcx.Serve[*productv1.GetProductResponse](ctx, s.get, req)
//	}
func Serve[Resp any](ctx context.Context, h grpctransport.Handler, req any) (Resp, error) {
	_, resp, err := h.ServeGRPC(ctx, req)
	if err != nil {
		var zero Resp
		return zero, err
	}
	return resp.(Resp), nil
}
