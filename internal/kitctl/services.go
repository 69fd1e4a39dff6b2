package kitctl

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/spf13/cobra"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// instanceView is one instance as kitctl shows it.
type instanceView struct {
	Service  string      `json:"service"`
	ID       string      `json:"id"`
	Health   string      `json:"health"`
	Version  string      `json:"version,omitempty"`
	HTTP     string      `json:"http,omitempty"`
	GRPC     string      `json:"grpc,omitempty"`
	Prefixes []string    `json:"prefixes,omitempty"`
	Checks   []checkView `json:"checks,omitempty"`
}

type checkView struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Output string `json:"output,omitempty"`
}

// consulAPI is the Consul client of a command.
func (g *globals) consulAPI() (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = g.consul
	return api.NewClient(cfg)
}

// serviceNames lists the services in Consul's catalog but Consul itself.
func (g *globals) serviceNames(ctx context.Context, c *api.Client) ([]string, error) {
	m, _, err := c.Catalog().Services((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul at %s: %w", g.consul, err)
	}
	var names []string
	for n := range m {
		if n != "consul" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// instances lists every instance of service, healthy or not.
func (g *globals) instances(ctx context.Context, c *api.Client, service string) ([]instanceView, error) {
	entries, _, err := c.Health().Service(service, "", false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul at %s: %w", g.consul, err)
	}
	byID := make(map[string]*api.ServiceEntry, len(entries))
	for _, e := range entries {
		byID[e.Service.ID] = e
	}
	var out []instanceView
	for _, in := range consul.InstancesFrom(entries) {
		e := byID[in.ID]
		v := instanceView{
			Service: in.Service, ID: in.ID, Health: e.Checks.AggregatedStatus(),
			Version: in.Meta[consul.MetaVersion], HTTP: in.HTTPAddr(), GRPC: in.GRPCAddr(),
		}
		if in.APIPrefix != "" {
			v.Prefixes = strings.Split(in.APIPrefix, ",")
		}
		for _, c := range e.Checks {
			v.Checks = append(v.Checks, checkView{Name: c.Name, Status: c.Status, Output: firstLine(c.Output)})
		}
		out = append(out, v)
	}
	return out, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// allInstances lists the instances of every service.
func (g *globals) allInstances(ctx context.Context) ([]instanceView, error) {
	c, err := g.consulAPI()
	if err != nil {
		return nil, err
	}
	names, err := g.serviceNames(ctx, c)
	if err != nil {
		return nil, err
	}
	var all []instanceView
	for _, n := range names {
		ins, err := g.instances(ctx, c, n)
		if err != nil {
			return nil, err
		}
		all = append(all, ins...)
	}
	return all, nil
}

// completeServices completes a service name from Consul.
func (g *globals) completeServices(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := g.ctx(cmd)
	defer cancel()
	c, err := g.consulAPI()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names, err := g.serviceNames(ctx, c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func servicesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "services",
		Short: "List every service in Consul with its instances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			all, err := g.allInstances(ctx)
			if err != nil {
				return err
			}
			if g.json() {
				for i := range all {
					all[i].Checks = nil
				}
				return g.emit(orEmpty(all))
			}
			rows := make([][]string, 0, len(all))
			for _, in := range all {
				rows = append(rows, []string{in.Service, in.ID, in.Health, dash(in.Version), dash(in.HTTP), dash(in.GRPC), dash(strings.Join(in.Prefixes, ","))})
			}
			return g.table([]string{"SERVICE", "INSTANCE", "HEALTH", "VERSION", "HTTP", "GRPC", "PREFIXES"}, rows)
		},
	}
}

func healthCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "One line per instance; exit code 0 when every instance passes, 1 otherwise",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			all, err := g.allInstances(ctx)
			if err != nil {
				return err
			}
			healthy := len(all) > 0
			type line struct {
				Service string   `json:"service"`
				ID      string   `json:"id"`
				Health  string   `json:"health"`
				Failing []string `json:"failing,omitempty"`
			}
			lines := make([]line, 0, len(all))
			for _, in := range all {
				l := line{Service: in.Service, ID: in.ID, Health: in.Health}
				for _, c := range in.Checks {
					if c.Status != api.HealthPassing {
						l.Failing = append(l.Failing, c.Name+": "+c.Output)
					}
				}
				healthy = healthy && in.Health == api.HealthPassing
				lines = append(lines, l)
			}
			if g.json() {
				if err := g.emit(map[string]any{"healthy": healthy, "instances": lines}); err != nil {
					return err
				}
			} else {
				rows := make([][]string, 0, len(lines))
				for _, l := range lines {
					rows = append(rows, []string{l.Service, l.ID, l.Health, dash(strings.Join(l.Failing, "; "))})
				}
				if err := g.table([]string{"SERVICE", "INSTANCE", "HEALTH", "FAILING CHECKS"}, rows); err != nil {
					return err
				}
			}
			if !healthy {
				return exitCode(1)
			}
			return nil
		},
	}
}

func describeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "describe SERVICE",
		Short:             "A service's instances and checks, routes, and gRPC methods (by server reflection)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			c, err := g.consulAPI()
			if err != nil {
				return err
			}
			ins, err := g.instances(ctx, c, args[0])
			if err != nil {
				return err
			}
			if len(ins) == 0 {
				return fmt.Errorf("no instances of %q in Consul at %s", args[0], g.consul)
			}
			d := description{Service: args[0], Instances: ins, Routes: routesOf(ctx, c, args[0])}
			if addr := firstGRPC(ins); addr != "" {
				// The rest is worth showing even when the instance cannot be
				// reached from here (its network is not this one's).
				if d.GRPC, err = reflectServices(ctx, addr); err != nil {
					d.GRPCError = fmt.Sprintf("server reflection at %s: %v", addr, err)
				}
			}
			if g.json() {
				return g.emit(d)
			}
			return d.print(g)
		},
	}
}

type description struct {
	Service   string         `json:"service"`
	Instances []instanceView `json:"instances"`
	Routes    []routeView    `json:"routes,omitempty"`
	GRPC      []grpcService  `json:"grpc,omitempty"`
	GRPCError string         `json:"grpc_error,omitempty"`
}

type routeView struct {
	Route  string `json:"route"`
	Access string `json:"access"` // public or protected
}

// routesOf reads the routes the service announces: its prefixes, protected
// unless listed in its public routes.
func routesOf(ctx context.Context, c *api.Client, service string) []routeView {
	entries, _, err := c.Health().Service(service, "", false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil || len(entries) == 0 {
		return nil
	}
	meta := entries[0].Service.Meta
	var out []routeView
	if pub, _ := gateway.ParsePublicRoutes(meta[consul.MetaPublicRoutes]); pub.Len() > 0 {
		for _, r := range pub.Routes() {
			out = append(out, routeView{Route: r.String(), Access: "public"})
		}
	}
	for _, p := range strings.Split(meta[consul.MetaAPIPrefix], ",") {
		if p != "" {
			out = append(out, routeView{Route: "* " + p, Access: "protected"})
		}
	}
	return out
}

func firstGRPC(ins []instanceView) string {
	for _, in := range ins {
		if in.GRPC != "" && in.Health == api.HealthPassing {
			return in.GRPC
		}
	}
	return ""
}

func (d description) print(g *globals) error {
	w := g.env.Stdout
	fmt.Fprintf(w, "Service %s\n\nInstances:\n", d.Service)
	for _, in := range d.Instances {
		fmt.Fprintf(w, "  %s  %s  version %s  http %s  grpc %s\n", in.ID, in.Health, dash(in.Version), dash(in.HTTP), dash(in.GRPC))
		for _, c := range in.Checks {
			fmt.Fprintf(w, "    check %-40s %s\n", c.Name, c.Status)
		}
	}
	if len(d.Routes) > 0 {
		fmt.Fprintf(w, "\nRoutes (public ones need no token; the rest under the prefix do):\n")
		for _, r := range d.Routes {
			fmt.Fprintf(w, "  %-10s %s\n", r.Access, r.Route)
		}
	}
	if d.GRPCError != "" {
		fmt.Fprintf(w, "\ngRPC: %s\n", d.GRPCError)
	}
	if len(d.GRPC) > 0 {
		fmt.Fprintf(w, "\ngRPC:\n")
		for _, s := range d.GRPC {
			fmt.Fprintf(w, "  %s\n", s.Name)
			for _, m := range s.Methods {
				fmt.Fprintf(w, "    rpc %s(%s) returns (%s)\n", m.Name, m.Request, m.Response)
			}
		}
		fmt.Fprintf(w, "\nMessages:\n")
		for _, s := range d.GRPC {
			for _, m := range s.Messages {
				fmt.Fprintf(w, "%s\n", indent(m, "  "))
			}
		}
	}
	return nil
}

func indent(s, pfx string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pfx + l
		}
	}
	return strings.Join(lines, "\n")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
