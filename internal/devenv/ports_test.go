package devenv_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/devenv"
)

// helperPorts is set in the child process of TestFreePortReservedAcrossProcesses.
const helperPorts = "KITSHOP_TEST_FREEPORT_HELPER"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(helperPorts)); err == nil {
		for range n {
			p, err := devenv.FreePort()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(p)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestFreePortOutsideEphemeralRangeAndUnique(t *testing.T) {
	ephLow := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			ephLow, _ = strconv.Atoi(f[0])
		}
	}
	seen := make(map[int]bool)
	for range 200 {
		p, err := devenv.FreePort()
		if err != nil {
			t.Fatalf("FreePort: %v", err)
		}
		if p >= ephLow || p < 1024 {
			t.Fatalf("FreePort = %d, want below the ephemeral range (starts %d) and above 1023", p, ephLow)
		}
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}

// Parallel test binaries each start stacks; a port one of them reserved must
// never be handed to another while it lives.
func TestFreePortReservedAcrossProcesses(t *testing.T) {
	mine := make(map[int]bool)
	for range 300 {
		p, err := devenv.FreePort()
		if err != nil {
			t.Fatalf("FreePort: %v", err)
		}
		mine[p] = true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperPorts+"=300")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 300 {
		t.Fatalf("helper printed %d ports, want 300", len(lines))
	}
	for _, l := range lines {
		p, _ := strconv.Atoi(l)
		if mine[p] {
			t.Errorf("port %d handed to two processes", p)
		}
	}
}
