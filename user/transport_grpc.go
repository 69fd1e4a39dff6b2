package user

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

// NewGRPCServer serves the endpoints as kitshop.user.v1.UserService. The
// caller's bearer token is read from the "authorization" metadata
// (auth.GRPCToContext). Handlers return the service's *errs.Error values
// unchanged; the server's interceptors (kit/grpcx) turn them into gRPC
// statuses, so the server must be built with grpcx.NewServer.
func NewGRPCServer(eps Endpoints, logger log.Logger) userv1.UserServiceServer {
	opts := []grpctransport.ServerOption{
		grpctransport.ServerBefore(auth.GRPCToContext()),
		grpctransport.ServerErrorHandler(grpcErrorHandler(logger)),
	}
	return &grpcServer{
		getUser: grpctransport.NewServer(eps.GetUser, decodeGRPCGetUserRequest, encodeGRPCGetUserResponse, opts...),
	}
}

type grpcServer struct {
	userv1.UnimplementedUserServiceServer
	getUser grpctransport.Handler
}

func (s *grpcServer) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	_, resp, err := s.getUser.ServeGRPC(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*userv1.GetUserResponse), nil
}

// grpcErrorHandler logs rejected calls at debug level, like kit/httpx does
// for HTTP; failures are logged by the grpcx interceptor, so each error is
// logged once by the transport.
func grpcErrorHandler(logger log.Logger) grpcErrorHandlerFunc {
	return func(ctx context.Context, err error) {
		if kind := errs.KindOf(err); kind.Business() {
			level.Debug(logging.WithRequest(logger, ctx)).Log("msg", "request rejected", "kind", kind, "detail", errs.Message(err))
		}
	}
}

// grpcErrorHandlerFunc adapts a function to go-kit's transport.ErrorHandler.
type grpcErrorHandlerFunc func(ctx context.Context, err error)

func (f grpcErrorHandlerFunc) Handle(ctx context.Context, err error) { f(ctx, err) }

func decodeGRPCGetUserRequest(_ context.Context, r any) (any, error) {
	return GetUserRequest{ID: r.(*userv1.GetUserRequest).GetId()}, nil
}

func encodeGRPCGetUserResponse(_ context.Context, r any) (any, error) {
	return &userv1.GetUserResponse{User: ToProto(r.(UserResponse).User)}, nil
}

// ToProto converts a user to its protobuf message.
func ToProto(u User) *userv1.User {
	return &userv1.User{
		Id:        u.ID,
		Email:     u.Email,
		Name:      u.Name,
		Roles:     append([]string(nil), u.Roles...),
		CreatedAt: timestamppb.New(u.CreatedAt),
	}
}

// FromProto converts a protobuf user back, for gRPC clients. A missing
// timestamp becomes the zero time.
func FromProto(m *userv1.User) User {
	u := User{
		ID:    m.GetId(),
		Email: m.GetEmail(),
		Name:  m.GetName(),
		Roles: append([]string(nil), m.GetRoles()...),
	}
	if m.GetCreatedAt() != nil {
		u.CreatedAt = m.GetCreatedAt().AsTime()
	}
	return u
}
