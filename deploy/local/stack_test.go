package local_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	local "github.com/kitshop/kitshop/deploy/local"
)

func TestStartWithoutBinariesSaysMakeBuild(t *testing.T) {
	cfg := local.DefaultConfig().WithFreePorts()
	cfg.BinDir = t.TempDir()
	cfg.RunDir = t.TempDir()
	_, err := local.Start(context.Background(), cfg)
	if err == nil {
		t.Fatal("Start without binaries succeeded, want an error")
	}
	for _, want := range []string{"make build", filepath.Join(cfg.BinDir, "product"), filepath.Join(cfg.BinDir, "user"), filepath.Join(cfg.BinDir, "order"), filepath.Join(cfg.BinDir, "gateway")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestStartWithBusyPortNamesIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	binDir := t.TempDir()
	names := []string{"gateway"}
	for _, svc := range local.DefaultConfig().Services {
		names = append(names, svc.Name)
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		user string
		set  func(*local.Config)
	}{
		{"gateway", func(c *local.Config) { c.GatewayPort = busy }},
		{"nats", func(c *local.Config) { c.NATSPort = busy }},
		{"nats monitoring", func(c *local.Config) { c.NATSMonitorPort = busy }},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			cfg := local.DefaultConfig().WithFreePorts()
			cfg.BinDir = binDir
			cfg.RunDir = t.TempDir()
			tt.set(&cfg)
			_, err := local.Start(context.Background(), cfg)
			want := "port " + strconv.Itoa(busy) + " (for " + tt.user + ") is already in use"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Start = %v, want an error containing %q", err, want)
			}
			if _, statErr := os.Stat(filepath.Join(cfg.RunDir, "logs")); !os.IsNotExist(statErr) {
				t.Errorf("Start created %s/logs before failing its preflight check", cfg.RunDir)
			}
		})
	}
}

func TestWithFreePortsLeavesDefaultsAlone(t *testing.T) {
	def := local.DefaultConfig()
	free := def.WithFreePorts()
	if free.GatewayPort != 0 || free.ConsulPort != 0 || free.PostgresPort != 0 || free.NATSPort != 0 || free.NATSMonitorPort != 0 {
		t.Errorf("WithFreePorts kept fixed ports: %+v", free)
	}
	for _, svc := range free.Services {
		for _, inst := range svc.Instances {
			if inst.HTTPPort != 0 || inst.GRPCPort != 0 {
				t.Errorf("%s keeps ports %d/%d, want 0/0", inst.ID, inst.HTTPPort, inst.GRPCPort)
			}
		}
	}
	if got := service(t, def, "product").Instances[0].HTTPPort; got != 8081 {
		t.Errorf("DefaultConfig product-1 HTTP port = %d after WithFreePorts, want 8081 (copy, not alias)", got)
	}
}

// service returns the spec of the named service in cfg.
func service(t *testing.T, cfg local.Config, name string) local.ServiceSpec {
	t.Helper()
	i := slices.IndexFunc(cfg.Services, func(s local.ServiceSpec) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("no service %q in the config", name)
	}
	return cfg.Services[i]
}

// TestDefaultServices checks the parts of the default stack other
// components rely on: the documented ports, the user and order services'
// settings, and the admin password and the service secret kept off every
// command line.
func TestDefaultServices(t *testing.T) {
	cfg := local.DefaultConfig()
	if cfg.AdminEmail != local.DefaultAdminEmail || cfg.AdminPassword != local.DefaultAdminPassword {
		t.Errorf("admin %q / %q, want the defaults", cfg.AdminEmail, cfg.AdminPassword)
	}
	var order []string
	for _, svc := range cfg.Services {
		order = append(order, svc.Name)
		if len(svc.Routes) == 0 {
			t.Errorf("%s: no route to check through the gateway", svc.Name)
		}
		for _, inst := range svc.Instances {
			for _, arg := range slices.Concat(svc.Args, inst.Args) {
				if strings.Contains(arg, local.PlaceholderAdminPassword) || strings.Contains(arg, local.DefaultAdminPassword) {
					t.Errorf("%s: the admin password is on the command line (%q)", inst.ID, arg)
				}
				if strings.Contains(arg, local.PlaceholderServiceSecret) {
					t.Errorf("%s: the service secret is on the command line (%q)", inst.ID, arg)
				}
			}
		}
	}
	// The built-in services first, in this order; services added by file
	// (deploy/local/services) follow them.
	if want := []string{"user", "product", "order"}; len(order) < len(want) || !slices.Equal(order[:len(want)], want) {
		t.Errorf("services %v, want %v first", order, want)
	}

	user := service(t, cfg, "user")
	if user.Database != "user" || len(user.Instances) != 1 ||
		user.Instances[0].ID != "user-1" || user.Instances[0].HTTPPort != 8083 || user.Instances[0].GRPCPort != 9083 {
		t.Errorf("user service %+v, want database user and instance user-1 on 8083/9083", user)
	}
	args := strings.Join(user.Args, " ")
	for _, want := range []string{
		"-signing-key-file " + local.PlaceholderRunDir + "/keys/user-signing.pem",
		"-generate-key",
		"-admin-email " + local.PlaceholderAdminEmail,
		"-trust-forwarded-for=true",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("user flags %q lack %q", args, want)
		}
	}
	for _, want := range []string{
		"USER_ADMIN_PASSWORD=" + local.PlaceholderAdminPassword,
		"USER_SERVICE_ACCOUNTS=" + local.OrderServiceAccount + ":" + local.PlaceholderServiceSecret,
	} {
		if !slices.Contains(user.Env, want) {
			t.Errorf("user environment %q lacks %q", user.Env, want)
		}
	}
	var routes []string
	for _, rc := range user.Routes {
		routes = append(routes, rc.Path)
	}
	for _, prefix := range []string{"/api/v1/users", "/api/v1/auth"} {
		if !slices.ContainsFunc(routes, func(p string) bool { return strings.HasPrefix(p, prefix) }) {
			t.Errorf("user routes checked %v: none under %s", routes, prefix)
		}
	}
}

// TestDefaultOrderService checks the order service of the default stack:
// its documented ports, its secret from the environment, and a readiness
// check through the gateway that proves its routes are there and protected.
func TestDefaultOrderService(t *testing.T) {
	o := service(t, local.DefaultConfig(), "order")
	if o.Database != "order" || len(o.Instances) != 1 ||
		o.Instances[0].ID != "order-1" || o.Instances[0].HTTPPort != 8084 || o.Instances[0].GRPCPort != 9084 {
		t.Errorf("order service %+v, want database order and instance order-1 on 8084/9084", o)
	}
	if want := "ORDER_SERVICE_SECRET=" + local.PlaceholderServiceSecret; !slices.Contains(o.Env, want) {
		t.Errorf("order environment %q lacks %q", o.Env, want)
	}
	want := local.RouteCheck{Path: "/api/v1/orders", Status: 401}
	if !slices.ContainsFunc(o.Routes, func(rc local.RouteCheck) bool {
		return (rc.Method == "" || rc.Method == "GET") && rc.Path == want.Path && rc.Status == want.Status
	}) {
		t.Errorf("order routes checked %+v, want GET %s answering %d", o.Routes, want.Path, want.Status)
	}
	var examples strings.Builder
	for _, ex := range o.Examples {
		examples.WriteString(ex.Command + "\n")
	}
	for _, want := range []string{"POST", "Idempotency-Key", "/api/v1/orders/$ORDER", "/cancel"} {
		if !strings.Contains(examples.String(), want) {
			t.Errorf("order examples do not show %q:\n%s", want, examples.String())
		}
	}
}

// TestDefaultEventServices checks what the default stack sets up for the
// event-driven services: NATS on its usual ports, two payment instances (so
// that they share their durable consumers) and a notification service with
// no mail server (NOTIFICATION_SMTP_ADDR empty, rather than absent, so its
// default cannot point at one).
func TestDefaultEventServices(t *testing.T) {
	cfg := local.DefaultConfig()
	if cfg.NATSPort != 4222 || cfg.NATSMonitorPort != 8222 || cfg.NATSStoreDir != "" {
		t.Errorf("NATS on %d (monitoring %d, data %q), want 4222, 8222 and the default <run>/nats", cfg.NATSPort, cfg.NATSMonitorPort, cfg.NATSStoreDir)
	}
	payment := service(t, cfg, "payment")
	var ids []string
	for _, inst := range payment.Instances {
		ids = append(ids, inst.ID)
	}
	if want := []string{"payment-1", "payment-2"}; payment.Database != "payment" || !slices.Equal(ids, want) {
		t.Errorf("payment: database %q, instances %v; want payment and %v", payment.Database, ids, want)
	}
	notification := service(t, cfg, "notification")
	if notification.Database != "notification" || len(notification.Instances) == 0 {
		t.Errorf("notification: %+v, want database notification and an instance", notification)
	}
	if !slices.Contains(notification.Env, "NOTIFICATION_SMTP_ADDR=") {
		t.Errorf("notification environment %q lacks an empty NOTIFICATION_SMTP_ADDR", notification.Env)
	}
	for _, svc := range cfg.Services {
		for _, kv := range svc.Env {
			if strings.Contains(kv, "_NATS_URL=") {
				t.Errorf("%s sets %q itself; the stack gives every service its broker", svc.Name, kv)
			}
		}
	}
}

func TestDefaultPostgresDataDir(t *testing.T) {
	root := "/src/kitshop"
	got := local.DefaultPostgresDataDir(root)
	if os.Geteuid() == 0 {
		// The server runs as the postgres user, which cannot enter /root.
		if !strings.HasPrefix(got, "/tmp/kitshop-") || filepath.Base(got) != "pgdata" {
			t.Errorf("as root: DefaultPostgresDataDir = %s, want /tmp/kitshop-<hash>/pgdata", got)
		}
		if other := local.DefaultPostgresDataDir("/src/other"); other == got {
			t.Errorf("two repositories share data dir %s", got)
		}
	} else if want := filepath.Join(root, ".run", "pgdata"); got != want {
		t.Errorf("DefaultPostgresDataDir = %s, want %s", got, want)
	}
}
