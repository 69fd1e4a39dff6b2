package payment

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/grpcx"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

// NewGRPCServer serves the endpoints as kitshop.payment.v1.PaymentService,
// for service-to-service calls. The caller's bearer token is read from the
// "authorization" metadata, and the rules are those of HTTP: the order's
// owner and admins see its payments, anyone else NOT_FOUND. Handlers return
// the service's *errs.Error values unchanged; the server's interceptors
// (kit/grpcx) turn them into gRPC statuses, so the server must be built
// with grpcx.NewServer. The scaffold's item RPCs answer UNIMPLEMENTED.
func NewGRPCServer(eps Endpoints, logger log.Logger) paymentv1.PaymentServiceServer {
	opts := grpcx.ServerOptions(logger)
	return &grpcServer{
		list: grpctransport.NewServer(eps.List, decodeGRPCListRequest, encodeGRPCListResponse, opts...),
	}
}

type grpcServer struct {
	paymentv1.UnimplementedPaymentServiceServer
	list grpctransport.Handler
}

func (s *grpcServer) ListPayments(ctx context.Context, req *paymentv1.ListPaymentsRequest) (*paymentv1.ListPaymentsResponse, error) {
	return grpcx.Serve[*paymentv1.ListPaymentsResponse](ctx, s.list, req)
}

func decodeGRPCListRequest(_ context.Context, r any) (any, error) {
	return ListRequest{OrderID: r.(*paymentv1.ListPaymentsRequest).GetOrderId()}, nil
}

func encodeGRPCListResponse(_ context.Context, r any) (any, error) {
	resp := r.(ListResponse)
	out := &paymentv1.ListPaymentsResponse{Payments: make([]*paymentv1.Payment, 0, len(resp.Payments))}
	for _, p := range resp.Payments {
		out.Payments = append(out.Payments, ToProto(p))
	}
	return out, nil
}

var statusToProto = map[Status]paymentv1.PaymentStatus{
	StatusPending:   paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING,
	StatusSucceeded: paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED,
	StatusFailed:    paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED,
	StatusRefunded:  paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED,
	StatusVoided:    paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED,
}

// ToProto converts a payment to its protobuf message.
func ToProto(p Payment) *paymentv1.Payment {
	return &paymentv1.Payment{
		Id:          p.ID,
		OrderId:     p.OrderID,
		Status:      statusToProto[p.Status],
		AmountMinor: p.AmountMinor,
		Currency:    p.Currency,
		Method:      p.Method,
		DeclineCode: p.DeclineCode,
		Message:     p.Message,
		CreatedAt:   timestamppb.New(p.CreatedAt),
		UpdatedAt:   timestamppb.New(p.UpdatedAt),
	}
}

// FromProto converts a protobuf payment back, for gRPC clients. Missing
// timestamps become the zero time; an unknown status the empty Status. The
// message carries no user id.
func FromProto(m *paymentv1.Payment) Payment {
	p := Payment{
		ID:          m.GetId(),
		OrderID:     m.GetOrderId(),
		AmountMinor: m.GetAmountMinor(),
		Currency:    m.GetCurrency(),
		Method:      m.GetMethod(),
		DeclineCode: m.GetDeclineCode(),
		Message:     m.GetMessage(),
	}
	for s, ps := range statusToProto {
		if ps == m.GetStatus() {
			p.Status = s
		}
	}
	if m.GetCreatedAt() != nil {
		p.CreatedAt = m.GetCreatedAt().AsTime()
	}
	if m.GetUpdatedAt() != nil {
		p.UpdatedAt = m.GetUpdatedAt().AsTime()
	}
	return p
}
