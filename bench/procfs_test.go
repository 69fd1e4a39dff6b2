package bench_test

import (
	"net"
	"os"
	"testing"

	"github.com/kitshop/kitshop/bench"
)

func TestReadResident(t *testing.T) {
	r, err := bench.ReadResident(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is a few MiB at least and not gigabytes; its heap
	// and stacks are a part of that.
	if r.RSS < 1024 || r.RSS > 4<<20 {
		t.Errorf("VmRSS = %d KiB, want a plausible size", r.RSS)
	}
	if r.Anon <= 0 || r.Anon > r.RSS {
		t.Errorf("RssAnon = %d KiB, want more than 0 and at most VmRSS (%d KiB)", r.Anon, r.RSS)
	}
	if _, err := bench.ReadResident(-1); err == nil {
		t.Error("ReadResident(-1): want an error")
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
