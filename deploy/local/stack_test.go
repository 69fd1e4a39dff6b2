package local_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
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
	for _, want := range []string{"make build", filepath.Join(cfg.BinDir, "product"), filepath.Join(cfg.BinDir, "gateway")} {
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
	for _, name := range []string{"product", "gateway"} {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := local.DefaultConfig().WithFreePorts()
	cfg.BinDir = binDir
	cfg.RunDir = t.TempDir()
	cfg.GatewayPort = busy

	_, err = local.Start(context.Background(), cfg)
	want := "port " + strconv.Itoa(busy) + " (for gateway) is already in use"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Start = %v, want an error containing %q", err, want)
	}
	if _, statErr := os.Stat(filepath.Join(cfg.RunDir, "logs")); !os.IsNotExist(statErr) {
		t.Errorf("Start created %s/logs before failing its preflight check", cfg.RunDir)
	}
}

func TestWithFreePortsLeavesDefaultsAlone(t *testing.T) {
	def := local.DefaultConfig()
	free := def.WithFreePorts()
	if free.GatewayPort != 0 || free.ConsulPort != 0 || free.PostgresPort != 0 {
		t.Errorf("WithFreePorts kept fixed ports: %+v", free)
	}
	for _, svc := range free.Services {
		for _, inst := range svc.Instances {
			if inst.HTTPPort != 0 || inst.GRPCPort != 0 {
				t.Errorf("%s keeps ports %d/%d, want 0/0", inst.ID, inst.HTTPPort, inst.GRPCPort)
			}
		}
	}
	if got := def.Services[0].Instances[0].HTTPPort; got != 8081 {
		t.Errorf("DefaultConfig product-1 HTTP port = %d after WithFreePorts, want 8081 (copy, not alias)", got)
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
