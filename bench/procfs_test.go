package bench_test

import (
	"net"
	"os"
	"testing"

	"github.com/kitshop/kitshop/bench"
)

func TestVmRSS(t *testing.T) {
	kib, err := bench.VmRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is a few MiB at least and not gigabytes.
	if kib < 1024 || kib > 4<<20 {
		t.Errorf("VmRSS = %d KiB, want a plausible size", kib)
	}
	if _, err := bench.VmRSS(-1); err == nil {
		t.Error("VmRSS(-1): want an error")
	}
}

func TestPidListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	got, err := bench.PidListening(port)
	if err != nil {
		t.Fatalf("PidListening(%d): %v", port, err)
	}
	if got != os.Getpid() {
		t.Errorf("PidListening(%d) = %d, want this process (%d)", port, got, os.Getpid())
	}
	ln.Close()
	if _, err := bench.PidListening(port); err == nil {
		t.Errorf("PidListening(%d) after close: want an error", port)
	}
}

func TestMachineInfo(t *testing.T) {
	if got := bench.CPUModel(); got == "" {
		t.Error("CPUModel is empty")
	}
	if got := bench.LoadAvg(); got == "" {
		t.Error("LoadAvg is empty")
	}
}
