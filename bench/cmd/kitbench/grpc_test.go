package main

// An internal test: a main package cannot be imported by an external one.

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kitshop/kitshop/kit/grpcx"
)

// reservationService describes the RPCs of DESIGN ADDENDUM 3 the way the
// product proto is to declare them, so the dynamic calls can be checked
// before the generated code has them.
func reservationService(t *testing.T) protoreflect.ServiceDescriptor {
	t.Helper()
	const pkg = "kitbench.test.v1"
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	f := func(name string, n int32, label *descriptorpb.FieldDescriptorProto_Label, typ *descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: label, Type: typ, JsonName: proto.String(name)}
		if typeName != "" {
			fd.TypeName = proto.String("." + pkg + "." + typeName)
		}
		return fd
	}
	msg := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	method := func(name, in, out string) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String("." + pkg + "." + in), OutputType: proto.String("." + pkg + "." + out)}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("kitbench_test.proto"),
		Package: proto.String(pkg),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			msg("StockItem", f("product_id", 1, opt, str, ""), f("quantity", 2, opt, descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum(), "")),
			msg("ReserveStockRequest", f("order_id", 1, opt, str, ""), f("items", 2, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), "StockItem")),
			msg("ReserveStockResponse"),
			msg("BatchGetProductsRequest", f("ids", 1, rep, str, "")),
			msg("BatchGetProductsResponse"),
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("ProductService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("ReserveStock", "ReserveStockRequest", "ReserveStockResponse"),
				method("BatchGetProducts", "BatchGetProductsRequest", "BatchGetProductsResponse"),
				method("Missing", "BatchGetProductsRequest", "BatchGetProductsResponse"),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}

// received is a request the fake server decoded.
type received struct {
	method string
	auth   string
	msg    *dynamicpb.Message
}

// fakeProduct serves every method of svc except "Missing" with an empty
// answer and records what it received.
func fakeProduct(t *testing.T, svc protoreflect.ServiceDescriptor) (addr string, got func() []received) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []received
	)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		full, _ := grpc.MethodFromServerStream(stream)
		name := full[strings.LastIndex(full, "/")+1:]
		md := svc.Methods().ByName(protoreflect.Name(name))
		if md == nil || name == "Missing" {
			return status.Error(codes.Unimplemented, "unknown method "+full)
		}
		in := dynamicpb.NewMessage(md.Input())
		if err := stream.RecvMsg(in); err != nil {
			return err
		}
		meta, _ := metadata.FromIncomingContext(stream.Context())
		mu.Lock()
		reqs = append(reqs, received{method: full, auth: strings.Join(meta.Get("authorization"), ","), msg: in})
		mu.Unlock()
		return stream.SendMsg(dynamicpb.NewMessage(md.Output()))
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), reqs...)
	}
}

func withTestToken(ctx context.Context) (context.Context, error) {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer test-token"), nil
}

func TestDynamicReservationCalls(t *testing.T) {
	svc := reservationService(t)
	addr, got := fakeProduct(t, svc)
	conn, err := grpcx.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	reserve, err := reserveStockCall(conn, svc.Methods().ByName("ReserveStock"), "product-1", withTestToken)
	if err != nil {
		t.Fatalf("reserveStockCall: %v", err)
	}
	batch, err := batchGetCall(conn, svc.Methods().ByName("BatchGetProducts"), "product-1", withTestToken)
	if err != nil {
		t.Fatalf("batchGetCall: %v", err)
	}
	for _, call := range []func(context.Context) error{reserve, reserve, batch} {
		if err := call(ctx); err != nil {
			t.Fatalf("call: %v", err)
		}
	}

	reqs := got()
	if len(reqs) != 3 {
		t.Fatalf("server got %d requests, want 3", len(reqs))
	}
	orderIDs := map[string]bool{}
	for _, r := range reqs[:2] {
		if r.method != "/kitbench.test.v1.ProductService/ReserveStock" || r.auth != "Bearer test-token" {
			t.Errorf("request %s with authorization %q", r.method, r.auth)
		}
		fields := r.msg.Descriptor().Fields()
		id := r.msg.Get(fields.ByName("order_id")).String()
		if _, err := uuid.Parse(id); err != nil {
			t.Errorf("order_id %q is not a UUID", id)
		}
		orderIDs[id] = true
		items := r.msg.Get(fields.ByName("items")).List()
		if items.Len() != 1 {
			t.Fatalf("items = %d, want 1", items.Len())
		}
		item := items.Get(0).Message()
		itemFields := item.Descriptor().Fields()
		if pid, qty := item.Get(itemFields.ByName("product_id")).String(), item.Get(itemFields.ByName("quantity")).Int(); pid != "product-1" || qty != 1 {
			t.Errorf("item = %s × %d, want product-1 × 1", pid, qty)
		}
	}
	if len(orderIDs) != 2 {
		t.Errorf("order ids %v: want a new one per call", orderIDs)
	}
	ids := reqs[2].msg.Get(reqs[2].msg.Descriptor().Fields().ByName("ids")).List()
	if ids.Len() != 1 || ids.Get(0).String() != "product-1" {
		t.Errorf("BatchGetProducts ids = %v, want [product-1]", ids)
	}
}

func TestDynamicCallUnimplemented(t *testing.T) {
	svc := reservationService(t)
	addr, _ := fakeProduct(t, svc)
	conn, err := grpcx.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call, err := batchGetCall(conn, svc.Methods().ByName("Missing"), "product-1", withTestToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = call(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not implement /kitbench.test.v1.ProductService/Missing") {
		t.Errorf("call = %v, want a plain 'does not implement' error", err)
	}
}

func TestDynamicCallRejectsOtherShapes(t *testing.T) {
	svc := reservationService(t)
	// BatchGetProductsRequest has no order_id: not a ReserveStock input.
	if _, err := reserveStockCall(nil, svc.Methods().ByName("BatchGetProducts"), "p", withTestToken); err == nil ||
		!strings.Contains(err.Error(), `no field "order_id"`) {
		t.Errorf("reserveStockCall on the wrong shape = %v, want a missing-field error", err)
	}
	if _, err := batchGetCall(nil, svc.Methods().ByName("ReserveStock"), "p", withTestToken); err == nil ||
		!strings.Contains(err.Error(), `no field "ids"`) {
		t.Errorf("batchGetCall on the wrong shape = %v, want a missing-field error", err)
	}
}
