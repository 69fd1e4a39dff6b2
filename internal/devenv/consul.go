package devenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ConsulConfig describes a Consul development agent to start.
type ConsulConfig struct {
	// HTTPPort is the HTTP API port on 127.0.0.1; 0 picks a free one.
	HTTPPort int
	// LogPath receives the agent log; empty discards it.
	LogPath string
	// DataDir is passed as -data-dir when set. A -dev agent keeps its
	// catalog in memory either way; this only moves its scratch files.
	DataDir string
	// Binary is the consul executable; empty means ConsulBinary().
	Binary string
}

// Consul is a running single-node Consul agent in -dev mode (server, in-memory
// state) bound to 127.0.0.1. Its methods are safe for concurrent use.
type Consul struct {
	httpPort int
	cfg      ConsulConfig

	mu   sync.Mutex // guards proc, which Restart replaces
	proc *Process
}

// consulStartTimeout bounds the wait for a leader; a -dev agent elects itself
// within a few seconds even on a loaded machine.
const consulStartTimeout = 60 * time.Second

// StartConsul starts `consul agent -dev` on loopback and waits until it has
// elected itself leader, which is when registrations and health queries
// start to work. Ports other than HTTP are free ones or disabled (DNS, WAN
// gossip, gRPC), so several agents can run side by side.
func StartConsul(ctx context.Context, cfg ConsulConfig) (*Consul, error) {
	ctx, cancel := context.WithTimeout(ctx, consulStartTimeout)
	defer cancel()
	if cfg.Binary == "" {
		bin, err := ConsulBinary()
		if err != nil {
			return nil, err
		}
		cfg.Binary = bin
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("consul: %w", err)
		}
	}
	autoPort := cfg.HTTPPort == 0
	if !autoPort {
		if err := CheckPortFree(cfg.HTTPPort, "consul"); err != nil {
			return nil, err
		}
	}
	c := &Consul{httpPort: cfg.HTTPPort, cfg: cfg}
	if err := c.start(ctx, autoPort); err != nil {
		return nil, err
	}
	return c, nil
}

// start runs the agent and waits for its leader, retrying when a port was
// taken. pickHTTP picks a free HTTP port for each attempt; otherwise the
// agent gets c.httpPort.
func (c *Consul) start(ctx context.Context, pickHTTP bool) error {
	for attempt := 1; ; attempt++ {
		if pickHTTP {
			p, err := FreePort()
			if err != nil {
				return err
			}
			c.httpPort = p
		}
		err := c.startOnce(ctx)
		if err == nil {
			return nil
		}
		// The serf and server ports are always picked free and may be
		// taken before the agent binds them; a retry picks new ones.
		if attempt == 3 || !strings.Contains(TailFile(c.cfg.LogPath, 30), "address already in use") {
			return err
		}
	}
}

func (c *Consul) startOnce(ctx context.Context) error {
	cfg := c.cfg
	ports := make([]int, 2)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	args := []string{
		"agent", "-dev",
		"-bind", "127.0.0.1",
		"-client", "127.0.0.1",
		"-node", "kitshop",
		"-log-level", "warn",
		"-http-port", strconv.Itoa(c.httpPort),
		"-serf-lan-port", strconv.Itoa(ports[0]),
		"-server-port", strconv.Itoa(ports[1]),
		"-dns-port", "-1",
		"-serf-wan-port", "-1",
		"-grpc-port", "-1",
		"-grpc-tls-port", "-1",
	}
	if cfg.DataDir != "" {
		args = append(args, "-data-dir", cfg.DataDir)
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = os.TempDir()
	}
	proc, err := StartProcess(ctx, ProcessConfig{
		Name:    "consul",
		Path:    cfg.Binary,
		Args:    args,
		LogPath: cfg.LogPath,
		Dir:     dir,
	})
	if err != nil {
		return fmt.Errorf("consul: %w", err)
	}
	c.mu.Lock()
	c.proc = proc
	c.mu.Unlock()

	leaderURL := "http://" + c.Addr() + "/v1/status/leader"
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = hasLeader(ctx, client, leaderURL); last == nil {
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("consul exited during startup (%v); log %s:\n%s", proc.Err(), cfg.LogPath, TailFile(cfg.LogPath, 30))
		case <-ctx.Done():
			_ = proc.Stop(5 * time.Second)
			return fmt.Errorf("consul has no leader on port %d: %w (last: %v); log %s:\n%s",
				c.httpPort, ctx.Err(), last, cfg.LogPath, TailFile(cfg.LogPath, 30))
		case <-tick.C:
		}
	}
}

// hasLeader returns nil once /v1/status/leader names a leader; before the
// election it answers "".
func hasLeader(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var leader string
	if err := json.Unmarshal(body, &leader); err != nil {
		return fmt.Errorf("leader response %q: %w", body, err)
	}
	if leader == "" {
		return errors.New("no leader elected yet")
	}
	return nil
}

// Addr returns the HTTP API address, "127.0.0.1:port", in the form
// github.com/hashicorp/consul/api and the services' -consul-addr expect.
func (c *Consul) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.httpPort) }

// URL returns the HTTP API base URL (the UI is at URL()+"/ui/").
func (c *Consul) URL() string { return "http://" + c.Addr() }

// Process returns the agent process (its log, its Done channel): after a
// Restart, the new one.
func (c *Consul) Process() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// consulStopGrace is how long the agent may take to leave before SIGKILL.
const consulStopGrace = 10 * time.Second

// Stop shuts the agent down, with SIGKILL after 10 s.
func (c *Consul) Stop() error {
	proc := c.Process()
	if proc == nil {
		return nil
	}
	return proc.Stop(consulStopGrace)
}
