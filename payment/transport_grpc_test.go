package payment_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/payment"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

// newGRPCClient serves the real service on a fresh database over a loopback
// listener with the kit's server and client, verifying tokens of the
// returned callers' signer, and returns a succeeded payment of an order of
// who.ownerID.
func newGRPCClient(t *testing.T) (paymentv1.PaymentServiceClient, callers, payment.Payment) {
	t.Helper()
	who := newCallers(t)
	f := newFixture(t)
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	paymentv1.RegisterPaymentServiceServer(srv, payment.NewGRPCServer(payment.NewEndpoints(f.svc, who.signer.Verifier()), logger))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis) // returns when stopped
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	cc, err := grpcx.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	o := newOrder(payment.TestCardVisa)
	o.UserID = who.ownerID
	r, err := f.svc.OrderConfirmed(context.Background(), event(o))
	if err != nil {
		t.Fatal(err)
	}
	return paymentv1.NewPaymentServiceClient(cc), who, r.Payment
}

// grpcContext returns a context for calls as the caller of token ("" for an
// anonymous one), which travels as "authorization" metadata.
func grpcContext(t *testing.T, token string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+token)
	}
	return ctx
}

func TestGRPCListPayments(t *testing.T) {
	client, who, paid := newGRPCClient(t)
	for name, token := range map[string]string{"owner": who.owner, "admin": who.admin} {
		t.Run(name, func(t *testing.T) {
			resp, err := client.ListPayments(grpcContext(t, token), &paymentv1.ListPaymentsRequest{OrderId: paid.OrderID})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetPayments()) != 1 || resp.GetPayments()[0].GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED {
				t.Fatalf("ListPayments = %v", resp)
			}
			want := paid
			want.UserID = "" // not on the wire
			if got := payment.FromProto(resp.GetPayments()[0]); got != want {
				t.Errorf("payment %+v, want %+v", got, want)
			}
		})
	}
}

// TestGRPCErrors checks that errors keep their meaning over gRPC.
func TestGRPCErrors(t *testing.T) {
	client, who, paid := newGRPCClient(t)
	tests := []struct {
		name, token, orderID string
		want                 codes.Code
	}{
		{"anonymous", "", paid.OrderID, codes.Unauthenticated},
		{"stranger", who.stranger, paid.OrderID, codes.NotFound},
		{"unknown order", who.admin, uuid.NewString(), codes.NotFound},
		{"malformed order id", who.owner, "nope", codes.InvalidArgument},
		{"no order id", who.owner, "", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ListPayments(grpcContext(t, tt.token), &paymentv1.ListPaymentsRequest{OrderId: tt.orderID})
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.want)
			}
			if tt.want != codes.InvalidArgument {
				return
			}
			var field string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
					field = br.GetFieldViolations()[0].GetField()
				}
			}
			if field != "order_id" {
				t.Errorf("details %v, want a BadRequest naming order_id", st.Details())
			}
		})
	}
}
