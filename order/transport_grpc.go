package order

import (
	"context"

	"github.com/kitshop/kitshop/kit/grpcx"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"google.golang.org/protobuf/types/known/timestamppb"

	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// NewGRPCServer serves the endpoints as kitshop.order.v1.OrderService. The
// caller's bearer token is read from the "authorization" metadata
// (auth.GRPCToContext). Handlers return the service's *errs.Error values
// unchanged; the server's interceptors (kit/grpcx) turn them into gRPC
// statuses, so the server must be built with grpcx.NewServer.
func NewGRPCServer(eps Endpoints, logger log.Logger) orderv1.OrderServiceServer {
	opts := grpcx.ServerOptions(logger)
	return &grpcServer{
		create: grpctransport.NewServer(eps.Create, decodeGRPCCreateRequest, encodeGRPCCreateResponse, opts...),
		get:    grpctransport.NewServer(eps.Get, decodeGRPCGetRequest, encodeGRPCGetResponse, opts...),
		list:   grpctransport.NewServer(eps.List, decodeGRPCListRequest, encodeGRPCListResponse, opts...),
		cancel: grpctransport.NewServer(eps.Cancel, decodeGRPCCancelRequest, encodeGRPCCancelResponse, opts...),
	}
}

type grpcServer struct {
	orderv1.UnimplementedOrderServiceServer
	create, get, list, cancel grpctransport.Handler
}

func (s *grpcServer) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	return grpcx.Serve[*orderv1.CreateOrderResponse](ctx, s.create, req)
}

func (s *grpcServer) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	return grpcx.Serve[*orderv1.GetOrderResponse](ctx, s.get, req)
}

func (s *grpcServer) ListOrders(ctx context.Context, req *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	return grpcx.Serve[*orderv1.ListOrdersResponse](ctx, s.list, req)
}

func (s *grpcServer) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
	return grpcx.Serve[*orderv1.CancelOrderResponse](ctx, s.cancel, req)
}

func decodeGRPCCreateRequest(_ context.Context, r any) (any, error) {
	req := r.(*orderv1.CreateOrderRequest)
	no := NewOrder{IdempotencyKey: req.GetIdempotencyKey(), PaymentMethod: req.GetPaymentMethod()}
	for _, l := range req.GetItems() {
		no.Items = append(no.Items, LineRequest{ProductID: l.GetProductId(), Quantity: l.GetQuantity()})
	}
	return CreateRequest{Order: no}, nil
}

func encodeGRPCCreateResponse(_ context.Context, r any) (any, error) {
	resp := r.(CreateResponse)
	return &orderv1.CreateOrderResponse{Order: ToProto(resp.Order), Replayed: resp.Replayed}, nil
}

func decodeGRPCGetRequest(_ context.Context, r any) (any, error) {
	return GetRequest{ID: r.(*orderv1.GetOrderRequest).GetId()}, nil
}

func encodeGRPCGetResponse(_ context.Context, r any) (any, error) {
	return &orderv1.GetOrderResponse{Order: ToProto(r.(OrderResponse).Order)}, nil
}

func decodeGRPCListRequest(_ context.Context, r any) (any, error) {
	req := r.(*orderv1.ListOrdersRequest)
	return ListRequest{Limit: int(req.GetLimit()), PageToken: req.GetPageToken(), All: req.GetAll()}, nil
}

func encodeGRPCListResponse(_ context.Context, r any) (any, error) {
	resp := r.(ListResponse)
	out := &orderv1.ListOrdersResponse{Orders: make([]*orderv1.Order, 0, len(resp.Orders)), NextPageToken: resp.NextPageToken}
	for _, o := range resp.Orders {
		out.Orders = append(out.Orders, ToProto(o))
	}
	return out, nil
}

func decodeGRPCCancelRequest(_ context.Context, r any) (any, error) {
	return CancelRequest{ID: r.(*orderv1.CancelOrderRequest).GetId()}, nil
}

func encodeGRPCCancelResponse(_ context.Context, r any) (any, error) {
	return &orderv1.CancelOrderResponse{Order: ToProto(r.(OrderResponse).Order)}, nil
}

var statusToProto = map[Status]orderv1.OrderStatus{
	StatusPending:   orderv1.OrderStatus_ORDER_STATUS_PENDING,
	StatusConfirmed: orderv1.OrderStatus_ORDER_STATUS_CONFIRMED,
	StatusRejected:  orderv1.OrderStatus_ORDER_STATUS_REJECTED,
	StatusFailed:    orderv1.OrderStatus_ORDER_STATUS_FAILED,
	StatusCancelled: orderv1.OrderStatus_ORDER_STATUS_CANCELLED,
	StatusPaid:      orderv1.OrderStatus_ORDER_STATUS_PAID,
}

// ToProto converts an order to its protobuf message.
func ToProto(o Order) *orderv1.Order {
	m := &orderv1.Order{
		Id:         o.ID,
		UserId:     o.UserID,
		Status:     statusToProto[o.Status],
		Items:      make([]*orderv1.OrderItem, 0, len(o.Items)),
		TotalMinor: o.TotalMinor,
		Currency:   o.Currency,
		CreatedAt:  timestamppb.New(o.CreatedAt),
		UpdatedAt:  timestamppb.New(o.UpdatedAt),

		PaymentMethod: o.PaymentMethod,
		CancelReason:  o.CancelReason,
	}
	for _, it := range o.Items {
		m.Items = append(m.Items, &orderv1.OrderItem{
			ProductId:      it.ProductID,
			Sku:            it.SKU,
			Name:           it.Name,
			UnitPriceMinor: it.UnitPriceMinor,
			Quantity:       it.Quantity,
			LineTotalMinor: it.LineTotalMinor,
		})
	}
	return m
}

// FromProto converts a protobuf order back, for gRPC clients. Missing
// timestamps become the zero time; an unknown status the empty Status.
func FromProto(m *orderv1.Order) Order {
	o := Order{
		ID:         m.GetId(),
		UserID:     m.GetUserId(),
		TotalMinor: m.GetTotalMinor(),
		Currency:   m.GetCurrency(),
		Items:      make([]Item, 0, len(m.GetItems())),

		PaymentMethod: m.GetPaymentMethod(),
		CancelReason:  m.GetCancelReason(),
	}
	for s, p := range statusToProto {
		if p == m.GetStatus() {
			o.Status = s
		}
	}
	for _, it := range m.GetItems() {
		o.Items = append(o.Items, Item{
			ProductID:      it.GetProductId(),
			SKU:            it.GetSku(),
			Name:           it.GetName(),
			UnitPriceMinor: it.GetUnitPriceMinor(),
			Quantity:       it.GetQuantity(),
			LineTotalMinor: it.GetLineTotalMinor(),
		})
	}
	if m.GetCreatedAt() != nil {
		o.CreatedAt = m.GetCreatedAt().AsTime()
	}
	if m.GetUpdatedAt() != nil {
		o.UpdatedAt = m.GetUpdatedAt().AsTime()
	}
	return o
}
