package devenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports handed out by FreePort come from below the kernel's ephemeral range,
// never from it: a port taken from the ephemeral range (by listening on :0
// and closing) can be reused at once as the local end of any outgoing
// connection on the machine, and a child that binds it seconds later fails
// with "address already in use". Ports are also reserved across processes
// with a lock file each, held until the process exits, so parallel test
// binaries starting stacks never pick the same port.
const (
	portRangeLow  = 20000 // above the fixed ports the stack and tools use
	portRangeHigh = 32767 // Linux's default ephemeral range starts at 32768
)

var ports struct {
	mu       sync.Mutex
	reserved map[int]*os.File // lock files held for the life of the process
}

// FreePort returns a TCP port on 127.0.0.1 that is free now, outside the
// ephemeral range, and reserved for this process: no other FreePort caller on
// the machine gets it while this process lives.
func FreePort() (int, error) {
	low, high := portRange()
	dir := filepath.Join(os.TempDir(), "kitshop-ports")

	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.reserved == nil {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		_ = os.Chmod(dir, 0o777|os.ModeSticky) // shared by users running tests
		ports.reserved = make(map[int]*os.File)
	}
	span := high - low + 1
	start := rand.IntN(span)
	for i := range span {
		port := low + (start+i)%span
		if _, ok := ports.reserved[port]; ok {
			continue
		}
		lock, err := lockPort(dir, port)
		if err != nil {
			continue // another process holds it
		}
		if !bindable(port) {
			lock.Close()
			continue
		}
		ports.reserved[port] = lock
		return port, nil
	}
	return 0, fmt.Errorf("free port: none left in %d-%d", low, high)
}

// lockPort takes an exclusive, non-blocking lock on dir/<port>.lock. The
// kernel drops the lock when the process dies, so a crash leaks nothing.
func lockPort(dir string, port int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)+".lock"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// bindable reports whether nothing listens on 127.0.0.1:port over TCP or UDP
// (Consul's serf ports use both).
func bindable(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// portRange returns the range FreePort draws from: the default one, moved
// down when the machine's ephemeral range starts lower than usual.
func portRange() (int, int) {
	low, high := portRangeLow, portRangeHigh
	if eph, err := ephemeralLow(); err == nil && eph-1 < high {
		high = eph - 1
		if high-low < 1000 {
			low = max(high-4000, 1024)
		}
	}
	return low, high
}

func ephemeralLow() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, errors.New("unexpected ip_local_port_range")
	}
	return strconv.Atoi(fields[0])
}
