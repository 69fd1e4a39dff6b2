package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/config"
)

// Instance is a running service instance.
type Instance struct {
	Service     string
	ID          string
	HTTPAddr    string // 127.0.0.1:port
	GRPCAddr    string // 127.0.0.1:port
	MetricsAddr string // 127.0.0.1:port, /metrics for Prometheus
	Process     *devenv.Process
}

// Stack is a running local system. Stop it with Stop.
type Stack struct {
	cfg         Config
	logDir      string
	pg          *devenv.Postgres
	consul      *devenv.Consul
	nats        *devenv.NATS
	gateway     *devenv.Process
	gatewayAddr string

	// mu guards instances and starts, which Restart changes while tests
	// read them.
	mu        sync.Mutex
	instances [][]*Instance                   // per service, in Config.Services order
	starts    map[string]devenv.ProcessConfig // by instance id, for Restart

	stopOnce sync.Once
	stopErr  error
	stopping atomic.Bool // set by Stop: what exits now is not restarted
}

// Grace periods for Stop. Services drain in-flight requests (15 s by
// default) after deregistering (2 s), so they get a little more.
const (
	serviceGrace = 25 * time.Second
	gatewayGrace = 20 * time.Second
)

// Start brings the stack up in dependency order — PostgreSQL, Consul, NATS
// (JetStream), databases, service instances, gateway — and returns once
// every instance answers /readyz, is passing in Consul, and the gateway
// answers each service's Routes as expected.
// On any failure it stops what it started and returns an error that names
// the failing process and shows the end of its log.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, logDir: filepath.Join(cfg.RunDir, "logs")}
	if err := s.preflight(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	if err := s.start(ctx); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			err = fmt.Errorf("%w\n(while stopping after the failure: %v)", err, stopErr)
		}
		return nil, err
	}
	return s, nil
}

// resolve fills in defaults and free ports.
func resolve(cfg Config) (Config, error) {
	if cfg.Root == "" {
		root, err := devenv.RepoRoot()
		if err != nil {
			// Started from elsewhere: bin/kitshop-local sits in the repo.
			exe, exeErr := os.Executable()
			if exeErr != nil {
				return cfg, err
			}
			if root, exeErr = devenv.RepoRootFrom(filepath.Dir(exe)); exeErr != nil {
				return cfg, err
			}
		}
		cfg.Root = root
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.Root, "bin")
	}
	if cfg.RunDir == "" {
		cfg.RunDir = filepath.Join(cfg.Root, ".run")
	}
	if cfg.TempPostgres {
		cfg.PostgresDataDir = "" // devenv makes and removes a temporary one
	} else if cfg.PostgresDataDir == "" {
		cfg.PostgresDataDir = DefaultPostgresDataDir(cfg.Root)
	}
	if cfg.NATSStoreDir == "" {
		cfg.NATSStoreDir = filepath.Join(cfg.RunDir, "nats")
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.AdminEmail == "" {
		cfg.AdminEmail = DefaultAdminEmail
	}
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = DefaultAdminPassword
	}
	if cfg.ServiceSecret == "" {
		b := make([]byte, 24)
		rand.Read(b) // never fails (crypto/rand panics rather than return an error)
		cfg.ServiceSecret = hex.EncodeToString(b)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	// The NATS client port, like PostgreSQL's and Consul's, is picked by
	// devenv when the server starts (it retries if another process takes
	// it first); the monitoring port is fixed before.
	for _, port := range []*int{&cfg.GatewayPort, &cfg.GatewayMetricsPort, &cfg.NATSMonitorPort} {
		if *port == 0 {
			p, err := devenv.FreePort()
			if err != nil {
				return cfg, err
			}
			*port = p
		}
	}
	// Copy the specs: filling in ports must not write into the caller's
	// slices.
	services := make([]ServiceSpec, len(cfg.Services))
	for i, svc := range cfg.Services {
		if svc.Name == "" || len(svc.Instances) == 0 {
			return cfg, fmt.Errorf("service %d: needs a name and at least one instance", i)
		}
		svc.Instances = slices.Clone(svc.Instances)
		for j := range svc.Instances {
			inst := &svc.Instances[j]
			if inst.ID == "" {
				inst.ID = svc.Name + "-" + strconv.Itoa(j+1)
			}
			for _, port := range []*int{&inst.HTTPPort, &inst.GRPCPort, &inst.MetricsPort} {
				if *port == 0 {
					p, err := devenv.FreePort()
					if err != nil {
						return cfg, err
					}
					*port = p
				}
			}
		}
		services[i] = svc
	}
	cfg.Services = services
	return cfg, nil
}

// preflight checks binaries and fixed ports before anything starts, so the
// common mistakes (not built yet, a stack already running) fail in a second
// with a plain message.
func (s *Stack) preflight() error {
	var errs []error
	for _, name := range s.binaries() {
		path := filepath.Join(s.cfg.BinDir, name)
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			errs = append(errs, fmt.Errorf("%s not found: run `make build`", path))
		}
	}
	type portUse struct {
		port int
		user string
	}
	ports := []portUse{
		{s.cfg.PostgresPort, "postgres"},
		{s.cfg.ConsulPort, "consul"},
		{s.cfg.NATSPort, "nats"},
		{s.cfg.NATSMonitorPort, "nats monitoring"},
		{s.cfg.GatewayPort, "gateway"},
		{s.cfg.GatewayMetricsPort, "gateway metrics"},
	}
	for _, svc := range s.cfg.Services {
		for _, inst := range svc.Instances {
			ports = append(ports, portUse{inst.HTTPPort, inst.ID + " http"}, portUse{inst.GRPCPort, inst.ID + " grpc"},
				portUse{inst.MetricsPort, inst.ID + " metrics"})
		}
	}
	for _, p := range ports {
		if p.port == 0 {
			continue // picked by devenv when the server starts
		}
		if err := devenv.CheckPortFree(p.port, p.user); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot start the local stack:\n%w", err)
	}
	return nil
}

func (s *Stack) binaries() []string {
	names := []string{"gateway"}
	for _, svc := range s.cfg.Services {
		names = append(names, svc.Name)
	}
	return names
}

// natsBinary is the nats-server `make deps` built into the stack's
// repository (kitshop-local may run from elsewhere), unless $KITSHOP_NATS
// names another; "" leaves the choice to devenv.NATSBinary.
func (s *Stack) natsBinary() string {
	if os.Getenv(devenv.EnvNATS) != "" {
		return ""
	}
	path := filepath.Join(s.cfg.Root, "bin", "nats-server")
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return path
	}
	return ""
}

// natsEnv is the variable that points the named service (or the gateway)
// at the stack's NATS server, <PREFIX>_NATS_URL. It goes in the
// environment, never on the command line: a service without events has no
// -nats-url flag and ignores the variable, but would reject the flag.
func (s *Stack) natsEnv(service string) string {
	return config.EnvName(service, "nats-url") + "=" + s.nats.URL()
}

// traceEnv makes the named service (or the gateway) record Config.TraceRatio
// of the traces and write their spans under TraceDir, where "kitctl trace"
// finds them; nothing when tracing is off.
func (s *Stack) traceEnv(service string) []string {
	if s.cfg.TraceRatio < 0 {
		return nil
	}
	return []string{
		config.EnvName(service, "trace-dir") + "=" + s.TraceDir(),
		config.EnvName(service, "trace-ratio") + "=" + strconv.FormatFloat(min(s.cfg.TraceRatio, 1), 'g', -1, 64),
	}
}

// TraceDir is where the stack's processes write their spans: <RunDir>/traces.
func (s *Stack) TraceDir() string { return filepath.Join(s.cfg.RunDir, "traces") }

func (s *Stack) progress(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, format+"\n", args...)
}

func (s *Stack) logPath(name string) string { return filepath.Join(s.logDir, name+".log") }

// expand returns a copy of args with the placeholders replaced.
func (s *Stack) expand(args []string) []string {
	r := strings.NewReplacer(
		PlaceholderRunDir, s.cfg.RunDir,
		PlaceholderAdminEmail, s.cfg.AdminEmail,
		PlaceholderAdminPassword, s.cfg.AdminPassword,
		PlaceholderServiceSecret, s.cfg.ServiceSecret,
	)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

func (s *Stack) start(ctx context.Context) error {
	var err error
	s.pg, err = devenv.StartPostgres(ctx, devenv.PostgresConfig{
		DataDir: s.cfg.PostgresDataDir,
		Port:    s.cfg.PostgresPort,
		LogPath: s.logPath("postgres"),
		NoFsync: s.cfg.TempPostgres,
	})
	if err != nil {
		return err
	}
	s.progress("postgres   ready on 127.0.0.1:%d (data %s)", s.pg.Port(), s.pg.DataDir())

	s.consul, err = devenv.StartConsul(ctx, devenv.ConsulConfig{
		HTTPPort: s.cfg.ConsulPort,
		LogPath:  s.logPath("consul"),
	})
	if err != nil {
		return err
	}
	s.progress("consul     ready on %s", s.consul.Addr())

	s.nats, err = devenv.StartNATS(ctx, devenv.NATSConfig{
		Port:        s.cfg.NATSPort,
		MonitorPort: s.cfg.NATSMonitorPort,
		StoreDir:    s.cfg.NATSStoreDir,
		LogPath:     s.logPath("nats"),
		Binary:      s.natsBinary(),
	})
	if err != nil {
		return err
	}
	s.progress("nats       ready on %s (JetStream, data %s; monitoring %s)", s.nats.URL(), s.nats.StoreDir(), s.nats.MonitorURL())

	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()

	for _, svc := range s.cfg.Services {
		if err := s.startService(ctx, svc); err != nil {
			return err
		}
	}

	s.gatewayAddr = "127.0.0.1:" + strconv.Itoa(s.cfg.GatewayPort)
	s.gateway, err = devenv.StartProcess(ctx, devenv.ProcessConfig{
		Name: "gateway",
		Path: filepath.Join(s.cfg.BinDir, "gateway"),
		Args: []string{"-http-addr", s.gatewayAddr, "-consul-addr", s.consul.Addr(),
			"-metrics-addr", "127.0.0.1:" + strconv.Itoa(s.cfg.GatewayMetricsPort)},
		Env:     append(append([]string{s.natsEnv("gateway")}, s.traceEnv("gateway")...), s.cfg.GatewayEnv...),
		LogPath: s.logPath("gateway"),
		Dir:     s.cfg.Root,
	})
	if err != nil {
		return err
	}

	for i, svc := range s.cfg.Services {
		if err := s.awaitPassing(ctx, svc.Name, s.instances[i], s.exited); err != nil {
			return err
		}
	}
	for _, svc := range s.cfg.Services {
		for _, rc := range svc.Routes {
			method := cmp.Or(rc.Method, http.MethodGet)
			url := s.GatewayURL() + rc.Path
			what := fmt.Sprintf("gateway to answer %s %s with %d", method, url, rc.Status)
			err := s.await(ctx, what, s.gateway, func(ctx context.Context) error {
				return statusIs(ctx, method, url, rc.Body, rc.Status)
			})
			if err != nil {
				return err
			}
		}
	}
	s.progress("gateway    ready on %s", s.gatewayAddr)
	return nil
}

// startService creates the service's database and starts its instances: the
// first alone until ready (it migrates and seeds), then the rest together.
func (s *Stack) startService(ctx context.Context, svc ServiceSpec) error {
	var dbURL string
	if svc.Database != "" {
		var err error
		if dbURL, err = s.pg.CreateDatabase(ctx, svc.Database); err != nil {
			return err
		}
	}
	// Registered before anything starts, so Stop and the exit watch see
	// every instance even if a later one fails.
	s.mu.Lock()
	s.instances = append(s.instances, make([]*Instance, 0, len(svc.Instances)))
	idx := len(s.instances) - 1
	s.mu.Unlock()

	startOne := func(spec InstanceSpec) (*Instance, error) {
		inst := &Instance{
			Service:     svc.Name,
			ID:          spec.ID,
			HTTPAddr:    "127.0.0.1:" + strconv.Itoa(spec.HTTPPort),
			GRPCAddr:    "127.0.0.1:" + strconv.Itoa(spec.GRPCPort),
			MetricsAddr: "127.0.0.1:" + strconv.Itoa(spec.MetricsPort),
		}
		args := []string{
			"-http-addr", inst.HTTPAddr,
			"-grpc-addr", inst.GRPCAddr,
			"-metrics-addr", inst.MetricsAddr,
			"-advertise-addr", "127.0.0.1",
			"-consul-addr", s.consul.Addr(),
			"-instance-id", inst.ID,
		}
		if dbURL != "" {
			args = append(args, "-database-url", dbURL)
		}
		args = append(args, svc.Args...)
		args = append(args, spec.Args...)
		// The broker first, so the spec's Env may override it; then a
		// development stack (KITSHOP_DEV=1): the services accept the
		// well-known development secrets (kit/config.RefuseDevSecret).
		env := append(append([]string{s.natsEnv(svc.Name)}, s.traceEnv(svc.Name)...), s.expand(svc.Env)...)
		pc := devenv.ProcessConfig{
			Name:    inst.ID,
			Path:    filepath.Join(s.cfg.BinDir, svc.Name),
			Args:    s.expand(args),
			Env:     append(env, config.DevEnv+"=1"),
			LogPath: s.logPath(inst.ID),
			Dir:     s.cfg.Root,
		}
		proc, err := devenv.StartProcess(ctx, pc)
		if err != nil {
			return nil, err
		}
		inst.Process = proc
		s.mu.Lock()
		s.instances[idx] = append(s.instances[idx], inst)
		if s.starts == nil {
			s.starts = make(map[string]devenv.ProcessConfig)
		}
		s.starts[inst.ID] = pc
		s.mu.Unlock()
		return inst, nil
	}
	ready := func(inst *Instance) error { return s.awaitReady(ctx, inst, s.exited) }

	first, err := startOne(svc.Instances[0])
	if err != nil {
		return err
	}
	if err := ready(first); err != nil {
		return err
	}
	rest := make([]*Instance, 0, len(svc.Instances)-1)
	for _, spec := range svc.Instances[1:] {
		inst, err := startOne(spec)
		if err != nil {
			return err
		}
		rest = append(rest, inst)
	}
	for _, inst := range rest {
		if err := ready(inst); err != nil {
			return err
		}
	}
	for _, inst := range s.instances[idx] {
		s.progress("%-10s ready on http %s, grpc %s", inst.ID, inst.HTTPAddr, inst.GRPCAddr)
	}
	return nil
}
