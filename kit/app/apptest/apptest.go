package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/config"
)

// Service is a service started by Start.
type Service struct {
	// HTTPAddr, GRPCAddr and MetricsAddr are where it listens ("" without
	// gRPC).
	HTTPAddr, GRPCAddr, MetricsAddr string
	// Logs holds everything it logged (JSON lines).
	Logs *Logs

	stopOnce sync.Once
	stopErr  error
	stopFn   func() error
}

// DefaultArgs come before the test's own: loopback port 0, JSON logs, and
// a quick shutdown. A test's own args win.
var DefaultArgs = []string{
	"-http-addr", "127.0.0.1:0",
	"-grpc-addr", "127.0.0.1:0",
	"-metrics-addr", "127.0.0.1:0",
	"-log-format", "json",
	"-deregister-delay", "0",
	"-drain-timeout", "5s",
}

// Start builds the service with DefaultArgs and args, in development mode
// (kit/config.DevMode), runs it, and waits until its /readyz answers 200. The test fails if the build fails, if Run
// returns before the test ends, or if Run fails at the end of the test.
func Start(t testing.TB, build app.BuildFunc, args ...string) *Service {
	t.Helper()
	// Test databases use the local stack's published password, which a
	// service refuses outside development mode.
	t.Setenv(config.DevEnv, "1")
	logs := &Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := build(ctx, append(append([]string(nil), DefaultArgs...), args...), logs)
	if err != nil {
		cancel()
		t.Fatalf("build: %v\nlogs:\n%s", err, logs)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	s := &Service{HTTPAddr: a.HTTPAddr(), GRPCAddr: a.GRPCAddr(), MetricsAddr: a.MetricsAddr(), Logs: logs}
	s.stopFn = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("run did not return within 20s of cancel")
		}
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("run: %v\nlogs:\n%s", err, logs)
		}
	})
	// A bound listener accepts connections before Run serves them: a probe
	// without a timeout could wait forever.
	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\nlogs:\n%s", err, logs)
		default:
		}
		if resp, err := probe.Get("http://" + s.HTTPAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s; logs:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL returns the service's HTTP URL for path.
func (s *Service) URL(path string) string { return "http://" + s.HTTPAddr + path }

// Stop stops the service and returns what Run returned; later calls return
// the same.
func (s *Service) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stopFn() })
	return s.stopErr
}

// Logs is a goroutine-safe log sink.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Lines returns the JSON log lines decoded; others are skipped.
func (l *Logs) Lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// String returns everything logged.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
