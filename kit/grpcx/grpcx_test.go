package grpcx_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/requestid"
)

// The test service has one unary method, Do, built by hand so the test needs
// no generated code. The request names what the handler does: a kind name
// returns an error of that kind, "panic" panics, "raw-status" returns a plain
// gRPC status, and anything else returns the request id the handler saw.
const doMethod = "/kitshop.test.v1.Test/Do"

var fields = []errs.FieldError{{Field: "name", Message: "must not be empty"}}

func testServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "kitshop.test.v1.Test",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Do",
			Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				handler := func(ctx context.Context, req any) (any, error) {
					return do(ctx, req.(*wrapperspb.StringValue).GetValue())
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{FullMethod: doMethod}, handler)
			},
		}},
	}
}

func do(ctx context.Context, what string) (*wrapperspb.StringValue, error) {
	if kind, ok := errs.ParseKind(what); ok {
		return nil, &errs.Error{Kind: kind, Message: "message for " + what, Fields: fields,
			RetryAfter: 3 * time.Second, Err: errors.New("secret cause " + what)}
	}
	switch what {
	case "panic":
		panic("secret panic value")
	case "raw-status":
		return nil, status.Error(codes.AlreadyExists, "exists")
	}
	return wrapperspb.String(requestid.FromContext(ctx)), nil
}

// start serves a grpcx server with the test and health services on a
// loopback port and returns a grpcx client for it.
func start(t *testing.T) (*grpc.ClientConn, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	srv := grpcx.NewServer(log.NewLogfmtLogger(log.NewSyncWriter(&logs)))
	srv.RegisterService(testServiceDesc(), struct{}{})
	h := health.New()
	h.SetReady(true)
	healthpb.RegisterHealthServer(srv, h.GRPC())

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	cc, err := grpcx.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc, &logs
}

func call(ctx context.Context, cc *grpc.ClientConn, what string) (string, error) {
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(ctx, doMethod, wrapperspb.String(what), out)
	return out.GetValue(), err
}

func TestErrorRoundTrip(t *testing.T) {
	cc, logs := start(t)
	kinds := []errs.Kind{errs.Internal, errs.Invalid, errs.NotFound, errs.Conflict, errs.Unauthenticated,
		errs.Forbidden, errs.RateLimited, errs.Unavailable}
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			ctx := requestid.NewContext(context.Background(), "rt-"+kind.String())
			_, err := call(ctx, cc, kind.String())
			var got *errs.Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
			}
			if got.Kind != kind {
				t.Errorf("kind = %s, want %s", got.Kind, kind)
			}
			wantMsg, wantFields := "message for "+kind.String(), fields
			if kind == errs.Internal {
				wantMsg, wantFields = "internal error", nil
			}
			if g := errs.Message(err); g != wantMsg {
				t.Errorf("message = %q, want %q", g, wantMsg)
			}
			if !reflect.DeepEqual(got.Fields, wantFields) {
				t.Errorf("fields = %+v, want %+v", got.Fields, wantFields)
			}
			if g, w := got.RetryAfter, 3*time.Second; g != w {
				t.Errorf("retry after = %v, want %v", g, w)
			}
			if strings.Contains(err.Error(), "secret cause") {
				t.Errorf("cause crossed the wire: %v", err)
			}
		})
	}
	for _, kind := range []errs.Kind{errs.Internal, errs.Unavailable} {
		if want := "request_id=rt-" + kind.String(); !strings.Contains(logs.String(), want) {
			t.Errorf("server log lacks %q:\n%s", want, logs)
		}
		if want := "secret cause " + kind.String(); !strings.Contains(logs.String(), want) {
			t.Errorf("server log lacks the cause %q", want)
		}
	}
	if strings.Contains(logs.String(), "secret cause not_found") {
		t.Errorf("business error logged as a failure:\n%s", logs)
	}
}

func TestPanicIsInternal(t *testing.T) {
	cc, logs := start(t)
	_, err := call(requestid.NewContext(context.Background(), "panic-1"), cc, "panic")
	if got, want := errs.KindOf(err), errs.Internal; got != want {
		t.Fatalf("kind = %s, want %s (err: %v)", got, want, err)
	}
	if strings.Contains(err.Error(), "secret panic value") {
		t.Errorf("panic value crossed the wire: %v", err)
	}
	for _, want := range []string{"panic in grpc handler", "secret panic value", "request_id=panic-1", "method=" + doMethod} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("server log lacks %q:\n%s", want, logs)
		}
	}
	// The server survived.
	if _, err := call(context.Background(), cc, "hello"); err != nil {
		t.Errorf("call after panic: %v", err)
	}
}

func TestRequestIDPropagates(t *testing.T) {
	cc, _ := start(t)
	tests := []struct {
		name string
		ctx  context.Context
		want func(string) bool
	}{
		{"from context", requestid.NewContext(context.Background(), "abc-123"), func(id string) bool { return id == "abc-123" }},
		{"generated", context.Background(), requestid.Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := call(tt.ctx, cc, "echo")
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Errorf("server saw request id %q", got)
			}
		})
	}
}

func TestPlainStatusesPassThrough(t *testing.T) {
	cc, _ := start(t)
	_, err := call(context.Background(), cc, "raw-status")
	if got, want := errs.KindOf(err), errs.Conflict; got != want {
		t.Errorf("AlreadyExists: kind = %s, want %s (err: %v)", got, want, err)
	}

	// The health service's own NotFound for an unknown service.
	_, err = healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"})
	if got, want := errs.KindOf(err), errs.NotFound; got != want {
		t.Errorf("health NotFound: kind = %s, want %s (err: %v)", got, want, err)
	}
}

func TestStreamErrorsAreMapped(t *testing.T) {
	cc, _ := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Errorf("watch status = %s, want %s", got, want)
	}
	cancel()
	_, err = stream.Recv()
	var kitErr *errs.Error
	if !errors.As(err, &kitErr) || kitErr.Kind != errs.Unavailable {
		t.Errorf("Recv after cancel = %v, want an errs.Unavailable", err)
	}
}

func TestReflectionRegistered(t *testing.T) {
	srv := grpcx.NewServer(log.NewNopLogger())
	defer srv.Stop()
	info := srv.GetServiceInfo()
	if _, ok := info["grpc.reflection.v1.ServerReflection"]; !ok {
		t.Errorf("reflection not registered; services: %v", info)
	}
}
