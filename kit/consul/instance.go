package consul

import (
	"cmp"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/hashicorp/consul/api"
)

// Keys and tags a Registrar writes and Instance reads back. They are the
// contract between a registering service and its callers (the gateway reads
// MetaAPIPrefix to route public paths).
const (
	MetaAPIPrefix = "api_prefix" // public HTTP path prefix, such as "/api/v1/widgets"
	MetaHTTPPort  = "http_port"  // HTTP port (also the service's Port)
	MetaGRPCPort  = "grpc_port"  // gRPC port; absent when the service has none
	// MetaMetricsPort is the port of the internal listener serving
	// /metrics, on the registered address; absent without one.
	MetaMetricsPort = "metrics_port"
	// MetaVersion is the version of the build (kit/version), for kitctl.
	MetaVersion = "version"
	TagAPI      = "api" // set on services that expose a public HTTP API
)

// Instance is one registered, passing instance of a service.
type Instance struct {
	ID        string
	Service   string
	Address   string
	HTTPPort  int
	GRPCPort  int // 0 when the instance registered no gRPC port
	APIPrefix string
	Tags      []string
	Meta      map[string]string // all service meta, including the keys above
}

// HTTPAddr returns "host:port" of the instance's HTTP server.
func (i Instance) HTTPAddr() string { return hostPort(i.Address, i.HTTPPort) }

// GRPCAddr returns "host:port" of the instance's gRPC server, or "" when the
// instance has none.
func (i Instance) GRPCAddr() string { return hostPort(i.Address, i.GRPCPort) }

func hostPort(host string, port int) string {
	if port <= 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// InstancesFrom converts the entries of a health query into instances
// sorted by ID, passing or not, for tools that show them (kitctl).
func InstancesFrom(entries []*api.ServiceEntry) []Instance { return instancesFrom(entries) }

// instancesFrom converts health query entries into instances sorted by ID,
// so that equal sets compare equal and round-robin order is stable.
func instancesFrom(entries []*api.ServiceEntry) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		s := e.Service
		addr := s.Address
		if addr == "" && e.Node != nil {
			addr = e.Node.Address // Consul's rule: no service address means the node's
		}
		in := Instance{
			ID:        s.ID,
			Service:   s.Service,
			Address:   addr,
			HTTPPort:  s.Port,
			GRPCPort:  port(s.Meta[MetaGRPCPort]),
			APIPrefix: s.Meta[MetaAPIPrefix],
			Tags:      slices.Clone(s.Tags),
			Meta:      maps.Clone(s.Meta),
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// port parses a port from meta; anything that is not a valid port is 0, so a
// malformed registration loses its gRPC address rather than breaking a watch.
func port(s string) int {
	p, err := strconv.Atoi(s)
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

func equalInstances(a, b []Instance) bool {
	return slices.EqualFunc(a, b, func(x, y Instance) bool {
		return x.ID == y.ID && x.Service == y.Service && x.Address == y.Address &&
			x.HTTPPort == y.HTTPPort && x.GRPCPort == y.GRPCPort && x.APIPrefix == y.APIPrefix &&
			slices.Equal(x.Tags, y.Tags) && maps.Equal(x.Meta, y.Meta)
	})
}
