package endpointx

import (
	"context"
	"fmt"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// Typed adapts f to an endpoint.Endpoint. A request of another type is a
// wiring bug (a transport decoded into the wrong type) and fails as
// Internal. On error the response is nil, so nothing half-built reaches an
// encoder.
func Typed[Req, Resp any](method string, f func(context.Context, Req) (Resp, error)) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(Req)
		if !ok {
			return nil, errs.Wrap(fmt.Errorf("%s: unexpected request type %T", method, request), errs.Internal, "")
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}
