package web

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/grpcx"
	webv1 "github.com/kitshop/kitshop/proto/web/v1"
)

// NewGRPCServer serves the endpoints as kitshop.web.v1.WebService.
// Handlers return the service's *errs.Error values unchanged; the server's
// interceptors (kit/grpcx) turn them into gRPC statuses, so the server must
// be built with grpcx.NewServer.
//
// CreateItem needs an admin's access token in the "authorization" metadata
// ("Bearer <token>"), exactly as over HTTP: without a valid one it fails
// with codes.Unauthenticated, for other roles with codes.PermissionDenied.
// gRPC calls never pass the gateway, so this check (in the endpoints, see
// NewEndpoints) is the only one they meet.
func NewGRPCServer(eps Endpoints, logger log.Logger) webv1.WebServiceServer {
	opts := grpcx.ServerOptions(logger)
	return &grpcServer{
		list:   grpctransport.NewServer(eps.List, decodeGRPCListRequest, encodeGRPCListResponse, opts...),
		get:    grpctransport.NewServer(eps.Get, decodeGRPCGetRequest, encodeGRPCGetResponse, opts...),
		create: grpctransport.NewServer(eps.Create, decodeGRPCCreateRequest, encodeGRPCCreateResponse, opts...),
	}
}

type grpcServer struct {
	webv1.UnimplementedWebServiceServer
	list, get, create grpctransport.Handler
}

func (s *grpcServer) ListItems(ctx context.Context, req *webv1.ListItemsRequest) (*webv1.ListItemsResponse, error) {
	return grpcx.Serve[*webv1.ListItemsResponse](ctx, s.list, req)
}

func (s *grpcServer) GetItem(ctx context.Context, req *webv1.GetItemRequest) (*webv1.GetItemResponse, error) {
	return grpcx.Serve[*webv1.GetItemResponse](ctx, s.get, req)
}

func (s *grpcServer) CreateItem(ctx context.Context, req *webv1.CreateItemRequest) (*webv1.CreateItemResponse, error) {
	return grpcx.Serve[*webv1.CreateItemResponse](ctx, s.create, req)
}

func decodeGRPCListRequest(_ context.Context, r any) (any, error) {
	req := r.(*webv1.ListItemsRequest)
	return ListRequest{Limit: int(req.GetLimit()), PageToken: req.GetPageToken()}, nil
}

func encodeGRPCListResponse(_ context.Context, r any) (any, error) {
	resp := r.(ListResponse)
	out := &webv1.ListItemsResponse{
		Items:         make([]*webv1.Item, 0, len(resp.Items)),
		NextPageToken: resp.NextPageToken,
	}
	for _, it := range resp.Items {
		out.Items = append(out.Items, ToProto(it))
	}
	return out, nil
}

func decodeGRPCGetRequest(_ context.Context, r any) (any, error) {
	return GetRequest{ID: r.(*webv1.GetItemRequest).GetId()}, nil
}

func encodeGRPCGetResponse(_ context.Context, r any) (any, error) {
	return &webv1.GetItemResponse{Item: ToProto(r.(GetResponse).Item)}, nil
}

func decodeGRPCCreateRequest(_ context.Context, r any) (any, error) {
	req := r.(*webv1.CreateItemRequest)
	return CreateRequest{Item: NewItem{
		Name:        req.GetName(),
		Description: req.GetDescription(),
		Quantity:    req.GetQuantity(),
	}}, nil
}

func encodeGRPCCreateResponse(_ context.Context, r any) (any, error) {
	return &webv1.CreateItemResponse{Item: ToProto(r.(CreateResponse).Item)}, nil
}

// ToProto converts an item to its protobuf message.
func ToProto(it Item) *webv1.Item {
	return &webv1.Item{
		Id:          it.ID,
		Name:        it.Name,
		Description: it.Description,
		Quantity:    it.Quantity,
		CreatedAt:   timestamppb.New(it.CreatedAt),
		UpdatedAt:   timestamppb.New(it.UpdatedAt),
	}
}

// FromProto converts a protobuf item back, for gRPC clients. Missing
// timestamps become the zero time.
func FromProto(m *webv1.Item) Item {
	it := Item{
		ID:          m.GetId(),
		Name:        m.GetName(),
		Description: m.GetDescription(),
		Quantity:    m.GetQuantity(),
	}
	if m.GetCreatedAt() != nil {
		it.CreatedAt = m.GetCreatedAt().AsTime()
	}
	if m.GetUpdatedAt() != nil {
		it.UpdatedAt = m.GetUpdatedAt().AsTime()
	}
	return it
}
