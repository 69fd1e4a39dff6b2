package local_test

import (
	"strings"
	"testing"
	"testing/fstest"

	local "github.com/kitshop/kitshop/deploy/local"
)

const validServiceFile = `{
  "name": "inventory",
  "database": "inventory",
  "routes": [{"method": "GET", "path": "/api/v1/inventory/items", "status": 200}],
  "env": ["INVENTORY_X=1"],
  "instances": [{"id": "inventory-1", "http_port": 8085, "grpc_port": 9085, "args": ["-v"]}],
  "examples": [{"title": "list", "command": "curl -s {gateway}/api/v1/inventory/items"}]
}`

func TestLoadServices(t *testing.T) {
	fsys := fstest.MapFS{
		"inventory.json": {Data: []byte(validServiceFile)},
		"README.md":      {Data: []byte("not a service")},
	}
	specs, err := local.LoadServices(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("got %d services, want 1", len(specs))
	}
	got := specs[0]
	if got.Name != "inventory" || got.Database != "inventory" || len(got.Env) != 1 ||
		len(got.Routes) != 1 || got.Routes[0] != (local.RouteCheck{Method: "GET", Path: "/api/v1/inventory/items", Status: 200}) ||
		len(got.Instances) != 1 || got.Instances[0].ID != "inventory-1" || got.Instances[0].HTTPPort != 8085 ||
		got.Instances[0].GRPCPort != 9085 || len(got.Instances[0].Args) != 1 ||
		len(got.Examples) != 1 || got.Examples[0].Title != "list" {
		t.Errorf("LoadServices = %+v", got)
	}
}

func TestLoadServicesRejects(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{"unknown field", "inventory.json", strings.Replace(validServiceFile, `"database"`, `"databse"`, 1), "databse"},
		{"name differs from the file", "stock.json", validServiceFile, `want the file's name "stock"`},
		{"no instances", "inventory.json", strings.Replace(validServiceFile, `[{"id": "inventory-1", "http_port": 8085, "grpc_port": 9085, "args": ["-v"]}]`, `[]`, 1), "no instances"},
		{"route without status", "inventory.json", strings.Replace(validServiceFile, `, "status": 200`, ``, 1), "routes[0]"},
		{"port out of range", "inventory.json", strings.Replace(validServiceFile, `8085`, `80850`, 1), "out of range"},
		{"not JSON", "inventory.json", `{"name":`, "unexpected EOF"},
		{"trailing data", "inventory.json", validServiceFile + `{}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := local.LoadServices(fstest.MapFS{tt.file: {Data: []byte(tt.data)}})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("LoadServices = %v, want an error naming %s and containing %q", err, tt.file, tt.want)
			}
		})
	}
}

// TestDefaultServicesAreDistinct checks the built-in services and those
// added by file together: no name, instance id or fixed port twice (the
// infrastructure's ports of DefaultConfig included), so that a service
// added by file cannot collide with another, or with NATS or Consul.
func TestDefaultServicesAreDistinct(t *testing.T) {
	local.FileServices() // panics, naming the file, if one is broken
	names := map[string]bool{}
	ids := map[string]bool{}
	cfg := local.DefaultConfig()
	ports := map[int]string{
		cfg.PostgresPort: "postgres", cfg.ConsulPort: "consul", cfg.NATSPort: "nats", cfg.NATSMonitorPort: "nats monitoring",
		cfg.GatewayPort: "gateway", cfg.GatewayMetricsPort: "gateway metrics",
	}
	if len(ports) != 6 {
		t.Errorf("DefaultConfig's infrastructure ports %v: want six distinct ones", ports)
	}
	for _, svc := range cfg.Services {
		if names[svc.Name] {
			t.Errorf("service %q appears twice", svc.Name)
		}
		names[svc.Name] = true
		for _, inst := range svc.Instances {
			if ids[inst.ID] {
				t.Errorf("instance id %q appears twice", inst.ID)
			}
			ids[inst.ID] = true
			for _, p := range []int{inst.HTTPPort, inst.GRPCPort, inst.MetricsPort} {
				if p == 0 {
					continue // a free one, picked at start
				}
				if other, ok := ports[p]; ok {
					t.Errorf("port %d of %s is also %s's", p, inst.ID, other)
				}
				ports[p] = inst.ID
			}
		}
	}
}
