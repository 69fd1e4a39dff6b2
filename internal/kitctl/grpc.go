package kitctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/jhump/protoreflect/v2/grpcdynamic"
	"github.com/jhump/protoreflect/v2/grpcreflect"
	"github.com/jhump/protoreflect/v2/protoprint"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
)

// grpcService is a gRPC service as server reflection describes it.
type grpcService struct {
	Name    string       `json:"name"`
	Methods []grpcMethod `json:"methods"`
	// Messages are the request and response messages and the messages
	// they contain, in proto syntax.
	Messages []string `json:"messages"`
}

type grpcMethod struct {
	Name     string `json:"name"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// infrastructure services every instance has; describe and call leave
// them out.
func infrastructure(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "grpc.health.") || strings.HasPrefix(string(name), "grpc.reflection.")
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// services resolves the application services of the server on conn.
func services(ctx context.Context, conn *grpc.ClientConn) ([]protoreflect.ServiceDescriptor, func(), error) {
	rc := grpcreflect.NewClientAuto(ctx, conn)
	names, err := rc.ListServices()
	if err != nil {
		rc.Reset()
		return nil, nil, err
	}
	var out []protoreflect.ServiceDescriptor
	for _, n := range names {
		if infrastructure(n) {
			continue
		}
		fd, err := rc.FileContainingSymbol(n)
		if err != nil {
			rc.Reset()
			return nil, nil, fmt.Errorf("%s: %w", n, err)
		}
		if sd := fd.Services().ByName(n.Name()); sd != nil {
			out = append(out, sd)
		}
	}
	slices.SortFunc(out, func(a, b protoreflect.ServiceDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	return out, rc.Reset, nil
}

// reflectServices describes the gRPC services of the server at addr.
func reflectServices(ctx context.Context, addr string) ([]grpcService, error) {
	conn, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	sds, done, err := services(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer done()
	printer := &protoprint.Printer{Compact: true, Indent: "  "}
	var out []grpcService
	for _, sd := range sds {
		s := grpcService{Name: string(sd.FullName())}
		seen := map[protoreflect.FullName]bool{}
		var msgs []protoreflect.MessageDescriptor
		var collect func(md protoreflect.MessageDescriptor)
		collect = func(md protoreflect.MessageDescriptor) {
			if seen[md.FullName()] || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
				return
			}
			seen[md.FullName()] = true
			msgs = append(msgs, md)
			fields := md.Fields()
			for i := range fields.Len() {
				if m := fields.Get(i).Message(); m != nil && !m.IsMapEntry() {
					collect(m)
				}
			}
		}
		methods := sd.Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			s.Methods = append(s.Methods, grpcMethod{Name: string(m.Name()), Request: string(m.Input().FullName()), Response: string(m.Output().FullName())})
			collect(m.Input())
			collect(m.Output())
		}
		for _, md := range msgs {
			text, err := printer.PrintProtoToString(md)
			if err != nil {
				return nil, err
			}
			s.Messages = append(s.Messages, strings.TrimSpace(text))
		}
		out = append(out, s)
	}
	return out, nil
}

// findMethod finds method among sds: "GetProduct", "ProductService/GetProduct",
// "ProductService.GetProduct" or the fully qualified name.
func findMethod(sds []protoreflect.ServiceDescriptor, method string) (protoreflect.MethodDescriptor, error) {
	method = strings.TrimPrefix(strings.ReplaceAll(method, "/", "."), ".")
	var found []protoreflect.MethodDescriptor
	var all []string
	for _, sd := range sds {
		ms := sd.Methods()
		for i := range ms.Len() {
			m := ms.Get(i)
			all = append(all, string(m.Name()))
			full := string(m.FullName())
			if full == method || strings.HasSuffix(full, "."+method) {
				found = append(found, m)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no method %q; the service has %s", method, strings.Join(all, ", "))
	default:
		var names []string
		for _, m := range found {
			names = append(names, string(m.FullName()))
		}
		return nil, fmt.Errorf("method %q is ambiguous: %s", method, strings.Join(names, ", "))
	}
}

func callCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "call SERVICE METHOD [JSON]",
		Short: "Call a gRPC method by name on a healthy instance, JSON in and out",
		Long: `Call a gRPC method of a service on one of its healthy instances in Consul, picked
round robin (an instance that answers Unavailable is followed by the next one).
METHOD is a method name (GetProduct), or qualified (ProductService/GetProduct).
The request is JSON in the protobuf mapping, "{}" when left out; "-" reads it
from standard input. The access token comes from --token, KITCTL_TOKEN or
kitctl login.`,
		Args: cobra.RangeArgs(2, 3),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return g.completeServices(cmd, args, s)
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			body := "{}"
			if len(args) == 3 {
				body = args[2]
			}
			if body == "-" {
				b, err := readAll(g.env.Stdin)
				if err != nil {
					return err
				}
				body = b
			}
			out, err := g.call(ctx, args[0], args[1], body)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(g.env.Stdout, out)
			return err
		},
	}
	return cmd
}

// call runs one call and returns the response as JSON.
func (g *globals) call(ctx context.Context, service, method, body string) (string, error) {
	c, err := g.consulAPI()
	if err != nil {
		return "", err
	}
	entries, _, err := c.Health().Service(service, "", true, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("consul at %s: %w", g.consul, err)
	}
	var instances []consul.Instance
	for _, in := range consul.InstancesFrom(entries) {
		if in.GRPCAddr() != "" {
			instances = append(instances, in)
		}
	}
	if len(instances) == 0 {
		return "", errs.Errorf(errs.Unavailable, "no healthy instance of %q with a gRPC port in Consul at %s", service, g.consul)
	}
	// A fresh process has no turn to continue from: start anywhere, then
	// go round.
	rr := consul.NewRoundRobin()
	for range rand.IntN(len(instances)) {
		rr.Next(instances, nil)
	}
	tried := map[string]bool{}
	var last error
	for {
		in, ok := rr.Next(instances, func(in consul.Instance) bool { return tried[in.ID] })
		if !ok {
			return "", last
		}
		tried[in.ID] = true
		out, err := g.callInstance(ctx, in.GRPCAddr(), method, body)
		if err == nil || errs.KindOf(err) != errs.Unavailable || ctx.Err() != nil {
			return out, err
		}
		last = err
	}
}

func (g *globals) callInstance(ctx context.Context, addr, method, body string) (string, error) {
	conn, err := dial(addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	sds, done, err := services(ctx, conn)
	if err != nil {
		return "", errs.Wrap(fmt.Errorf("server reflection at %s: %w", addr, err), errs.Unavailable, "server reflection failed at "+addr+": "+err.Error())
	}
	defer done()
	md, err := findMethod(sds, method)
	if err != nil {
		return "", err
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return "", fmt.Errorf("%s streams; kitctl calls unary methods only", md.FullName())
	}
	req := dynamicpb.NewMessage(md.Input())
	if err := protojson.Unmarshal([]byte(body), req); err != nil {
		return "", errs.Errorf(errs.Invalid, "request is not a valid %s in JSON: %v", md.Input().FullName(), err)
	}
	if tok := g.accessToken(); tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	resp, err := grpcdynamic.NewStub(conn).InvokeRPC(ctx, md, req)
	if err != nil {
		kerr := errs.FromGRPC(err)
		var e *errs.Error
		if errors.As(kerr, &e) {
			return "", kerr
		}
		return "", err
	}
	// The proto field names, as the HTTP API spells them. protojson varies
	// its spacing on purpose; json.Indent makes it stable.
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return "", err
	}
	return out.String(), nil
}
