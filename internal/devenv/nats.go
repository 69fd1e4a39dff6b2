package devenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EnvNATS names a nats-server binary to use instead of <root>/bin/nats-server.
const EnvNATS = "KITSHOP_NATS"

// NATSConfig describes a NATS server with JetStream to start.
type NATSConfig struct {
	// Port is the client port on 127.0.0.1; 0 picks a free one.
	Port int
	// MonitorPort, when not 0, is the HTTP monitoring port on 127.0.0.1
	// (/healthz, /varz, /jsz, /connz). 0 leaves monitoring off, as tests
	// that only publish and consume want.
	MonitorPort int
	// StoreDir holds JetStream's file storage (streams and their
	// messages), so it survives a Restart. Empty means a temporary
	// directory that Stop removes.
	StoreDir string
	// LogPath receives the server log; empty discards it.
	LogPath string
	// Binary is the nats-server executable; empty means NATSBinary().
	Binary string
}

// NATS is a running single-node NATS server with JetStream enabled, bound to
// 127.0.0.1. Its methods are safe for concurrent use.
type NATS struct {
	port     int
	cfg      NATSConfig
	tempDir  bool // StoreDir was made by StartNATS; Stop removes it
	stopOnce sync.Once

	mu   sync.Mutex // guards proc, which Restart replaces
	proc *Process
}

// natsStartTimeout bounds the wait for JetStream to answer; the server
// itself is up in milliseconds, JetStream a moment later.
const natsStartTimeout = 30 * time.Second

// natsStopGrace is how long the server may take to flush and exit before
// SIGKILL.
const natsStopGrace = 10 * time.Second

// StartNATS starts `nats-server -js` on loopback and waits until JetStream
// answers an account info request, which is when streams can be created.
func StartNATS(ctx context.Context, cfg NATSConfig) (*NATS, error) {
	ctx, cancel := context.WithTimeout(ctx, natsStartTimeout)
	defer cancel()
	if cfg.Binary == "" {
		bin, err := NATSBinary()
		if err != nil {
			return nil, err
		}
		cfg.Binary = bin
	}
	n := &NATS{port: cfg.Port}
	if cfg.StoreDir == "" {
		dir, err := os.MkdirTemp("", "kitshop-nats-")
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		cfg.StoreDir = dir
		n.tempDir = true
	} else if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	n.cfg = cfg
	autoPort := cfg.Port == 0
	for _, p := range []struct {
		port int
		user string
	}{{cfg.Port, "nats"}, {cfg.MonitorPort, "nats monitoring"}} {
		if p.port == 0 {
			continue
		}
		if err := CheckPortFree(p.port, p.user); err != nil {
			n.removeTemp()
			return nil, err
		}
	}
	if err := n.start(ctx, autoPort); err != nil {
		n.removeTemp()
		return nil, err
	}
	return n, nil
}

// start runs the server and waits for JetStream. pickPort picks a free port
// for each attempt (another process may take a free port before the server
// binds it); otherwise the server gets n.port.
func (n *NATS) start(ctx context.Context, pickPort bool) error {
	for attempt := 1; ; attempt++ {
		if pickPort {
			p, err := FreePort()
			if err != nil {
				return err
			}
			n.port = p
		}
		err := n.startOnce(ctx)
		if err == nil {
			return nil
		}
		if !pickPort || attempt == 3 || !strings.Contains(TailFile(n.cfg.LogPath, 30), "address already in use") {
			return err
		}
	}
}

func (n *NATS) startOnce(ctx context.Context) error {
	cfg := n.cfg
	args := []string{
		"-js",
		"-a", "127.0.0.1",
		"-p", strconv.Itoa(n.port),
		"-sd", cfg.StoreDir,
		"-n", "kitshop",
	}
	if cfg.MonitorPort != 0 {
		// The monitoring listener binds -a's address too.
		args = append(args, "-m", strconv.Itoa(cfg.MonitorPort))
	}
	proc, err := StartProcess(ctx, ProcessConfig{
		Name:    "nats-server",
		Path:    cfg.Binary,
		Args:    args,
		LogPath: cfg.LogPath,
		Dir:     cfg.StoreDir,
		// SIGINT is nats-server's clean shutdown (exit status 0).
		StopSignal: syscall.SIGINT,
	})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	n.mu.Lock()
	n.proc = proc
	n.mu.Unlock()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = jetStreamReady(ctx, n.URL()); last == nil {
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("nats-server exited during startup (%v); log %s:\n%s", proc.Err(), cfg.LogPath, TailFile(cfg.LogPath, 30))
		case <-ctx.Done():
			_ = proc.Stop(natsStopGrace)
			return fmt.Errorf("nats-server JetStream not ready on port %d: %w (last: %v); log %s:\n%s",
				n.port, ctx.Err(), last, cfg.LogPath, TailFile(cfg.LogPath, 30))
		case <-tick.C:
		}
	}
}

// jetStreamReady connects once and asks JetStream for the account info: it
// fails until the server listens and JetStream has started.
func jetStreamReady(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// Addr returns the client address, "127.0.0.1:port".
func (n *NATS) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// URL returns the client URL, nats://127.0.0.1:port, for nats.Connect.
func (n *NATS) URL() string { return "nats://" + n.Addr() }

// MonitorURL returns the monitoring base URL, http://127.0.0.1:port, or ""
// when NATSConfig.MonitorPort was 0.
func (n *NATS) MonitorURL() string {
	if n.cfg.MonitorPort == 0 {
		return ""
	}
	return "http://127.0.0.1:" + strconv.Itoa(n.cfg.MonitorPort)
}

// StoreDir returns the JetStream storage directory.
func (n *NATS) StoreDir() string { return n.cfg.StoreDir }

// Process returns the server process: after a Restart, the new one.
func (n *NATS) Process() *Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Restart starts the server again on the same port and storage directory,
// for a supervisor that saw it die or a test that stopped it: streams and
// their messages come back from the file store, and clients that kept
// reconnecting (nats.go does by default) resume on the same URL. A server
// still running is stopped first. It returns once JetStream answers again.
func (n *NATS) Restart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, natsStartTimeout)
	defer cancel()
	if err := n.Process().Stop(natsStopGrace); err != nil {
		return fmt.Errorf("nats: restart: %w", err)
	}
	return n.start(ctx, false)
}

// Pause stops the server, keeping its port and storage, so a test can watch
// clients cope with a broker that is down; Restart brings it back.
func (n *NATS) Pause() error {
	return n.Process().Stop(natsStopGrace)
}

// Stop shuts the server down, with SIGKILL after 10 s, and removes a
// temporary storage directory.
func (n *NATS) Stop() error {
	proc := n.Process()
	if proc == nil {
		return nil
	}
	err := proc.Stop(natsStopGrace)
	n.removeTemp()
	return err
}

func (n *NATS) removeTemp() {
	if n.tempDir {
		n.stopOnce.Do(func() { _ = os.RemoveAll(n.cfg.StoreDir) })
	}
}

// NATSBinary returns the nats-server binary to run: $KITSHOP_NATS, then
// <repo root>/bin/nats-server (what `make deps` builds), then nats-server on
// PATH.
func NATSBinary() (string, error) {
	if path := os.Getenv(EnvNATS); path != "" {
		if !isExecutable(path) {
			return "", fmt.Errorf("$%s=%s is not an executable file", EnvNATS, path)
		}
		return path, nil
	}
	if root, err := RepoRoot(); err == nil {
		if path := filepath.Join(root, "bin", "nats-server"); isExecutable(path) {
			return path, nil
		}
	}
	if path, err := exec.LookPath("nats-server"); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("nats-server binary not found in $%s, <repo>/bin/nats-server or PATH; %s", EnvNATS, errDeps)
}
