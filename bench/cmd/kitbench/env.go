package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kitshop/kitshop/bench"
	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/config"
)

// Rate limits for a stack kitbench starts itself: high enough never to cut
// in, since the point is to measure the code, not the limiter's ceiling.
// The gateway takes 0 as "no limit"; the services want a positive rate.
const (
	serviceRateLimit = "1e9"
	serviceRateBurst = "1000000000"
)

// environment is the system under test: a stack (running already, or
// started here) and the bare handler on the product database.
type environment struct {
	gatewayURL string
	consulURL  string
	productDB  string
	natsURL    string
	// stack is the description that goes into the report.
	stack string
	own   *local.Stack // nil when the stack was running already

	bare    *devenv.Process
	bareURL string

	// gozero is the go-zero peer on the same database (bench/gozero);
	// gozeroNA says why it is not running when it was wanted.
	gozero    *devenv.Process
	gozeroURL string
	gozeroNA  string

	// uncached is a product instance with its read cache off, outside
	// Consul, so the direct row can be read both ways; only in a stack
	// kitbench starts.
	uncached    *devenv.Process
	uncachedURL string

	// extra are gateways with other settings; only in a stack kitbench
	// starts.
	extra *extraGateways
}

// gatewayAnswers reports whether something answers GET /healthz with 200 at
// the gateway URL.
func gatewayAnswers(ctx context.Context, gatewayURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode == http.StatusOK
}

// openEnvironment uses the stack at o.gateway when it answers (and
// o.newStack is not set), or starts one; then starts the bare handler and
// the go-zero peer.
func openEnvironment(ctx context.Context, o options, log io.Writer) (*environment, error) {
	env := &environment{}
	if !o.newStack && gatewayAnswers(ctx, o.gateway) {
		env.gatewayURL = o.gateway
		env.consulURL = o.consul
		env.productDB = o.databaseURL
		if env.productDB == "" {
			env.productDB = defaultProductDB()
		}
		env.natsURL = o.natsURL
		env.stack = "the running stack at " + o.gateway + " (its own rate limits apply)"
		fmt.Fprintf(log, "kitbench: using the running stack at %s\n", o.gateway)
	} else {
		if err := env.startStack(ctx, o, log); err != nil {
			return nil, err
		}
	}
	if err := env.startBare(ctx, o, log); err != nil {
		env.Close()
		return nil, err
	}
	if err := env.startGoZero(ctx, o, log); err != nil {
		env.Close()
		return nil, err
	}
	if env.own != nil {
		if err := env.startUncached(ctx, o, log); err != nil {
			env.Close()
			return nil, err
		}
		if err := env.startGateways(ctx, o, log); err != nil {
			env.Close()
			return nil, err
		}
	}
	return env, nil
}

// defaultProductDB is the product database of `make run`'s cluster.
func defaultProductDB() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(devenv.PostgresUser, devenv.PostgresPassword),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(local.DefaultConfig().PostgresPort)),
		Path:     "/product",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// startStack starts the local stack with a throwaway Postgres and every
// rate limit out of the way.
func (env *environment) startStack(ctx context.Context, o options, log io.Writer) error {
	cfg := local.DefaultConfig()
	if !o.fixedPorts {
		cfg = cfg.WithFreePorts()
	}
	cfg.Root = o.root
	cfg.BinDir = o.binDir
	// Logs and the signing key apart from `make run`'s.
	cfg.RunDir = filepath.Join(o.root, ".run", "bench")
	cfg.TempPostgres = true
	cfg.TraceRatio = o.traceRatio
	cfg.ReadyTimeout = 2 * time.Minute
	cfg.Progress = log
	services := slices.Clone(cfg.Services)
	for i := range services {
		prefix := strings.ToUpper(strings.ReplaceAll(services[i].Name, "-", "_"))
		// kit/config ignores variables of flags a service lacks.
		services[i].Env = append(slices.Clone(services[i].Env),
			prefix+"_RATE_LIMIT="+serviceRateLimit,
			prefix+"_RATE_BURST="+serviceRateBurst)
	}
	cfg.Services = services
	// The stack passes the gateway no environment of its own; it inherits
	// ours.
	for _, kv := range [][2]string{{"GATEWAY_RATE_LIMIT", "0"}, {"GATEWAY_USER_RATE_LIMIT", "0"}} {
		if err := os.Setenv(kv[0], kv[1]); err != nil {
			return err
		}
	}
	// The processes append to their logs; a benchmark writes a line per
	// request, so keep only the last run's.
	logDir := filepath.Join(cfg.RunDir, "logs")
	old, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
	for _, f := range old {
		os.Remove(f)
	}
	// Spans of a previous run's tracing rows would only take space.
	os.RemoveAll(filepath.Join(cfg.RunDir, "traces"))
	fmt.Fprintf(log, "kitbench: starting a local stack (temporary Postgres, rate limits off; logs in %s)\n", logDir)
	stack, err := local.Start(ctx, cfg)
	if err != nil {
		return err
	}
	env.own = stack
	env.gatewayURL = stack.GatewayURL()
	env.consulURL = stack.ConsulURL()
	env.productDB = stack.Postgres().URL("product")
	env.natsURL = stack.NATSURL()
	var names []string
	for _, svc := range cfg.Services {
		names = append(names, fmt.Sprintf("%s×%d", svc.Name, len(svc.Instances)))
	}
	env.stack = fmt.Sprintf("started by kitbench: %s, gateway, Consul, a temporary PostgreSQL (fsync off); rate limits raised out of the way",
		strings.Join(names, ", "))
	return nil
}

// startBare starts bench/cmd/bare on a free port against the product
// database and waits until it answers.
func (env *environment) startBare(ctx context.Context, o options, log io.Writer) error {
	port, err := devenv.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proc, err := startHelper(ctx, o, "bare", "bare", "/healthz",
		[]string{"-addr", addr},
		[]string{"BARE_DATABASE_URL=" + env.productDB}, // not on the command line: it holds a password
		addr)
	if err != nil {
		return err
	}
	env.bare, env.bareURL = proc, "http://"+addr
	fmt.Fprintf(log, "kitbench: bare handler ready on %s\n", addr)
	return nil
}

// startUncached starts one more product instance, with -cache-items 0 and
// without Consul (so the gateway never routes to it), on the stack's
// product database, taking the signing keys from the user instance.
func (env *environment) startUncached(ctx context.Context, o options, log io.Writer) error {
	users, err := env.instances(ctx, "user")
	if err != nil {
		return err
	}
	if len(users) == 0 {
		return errors.New("no passing user instance in Consul for the uncached product instance's keys")
	}
	httpPort, err := devenv.FreePort()
	if err != nil {
		return err
	}
	grpcPort, err := devenv.FreePort()
	if err != nil {
		return err
	}
	metricsPort, err := devenv.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(httpPort)
	proc, err := startHelper(ctx, o, "product-nocache", "product", "/readyz",
		[]string{
			"-http-addr", addr,
			"-grpc-addr", "127.0.0.1:" + strconv.Itoa(grpcPort),
			"-metrics-addr", "127.0.0.1:" + strconv.Itoa(metricsPort),
			"-consul-addr", "",
			"-jwks-url", "http://" + users[0].HTTPAddr + "/.well-known/jwks.json",
			"-instance-id", "product-nocache",
			"-cache-items", "0",
		},
		[]string{
			"PRODUCT_DATABASE_URL=" + env.productDB,
			"PRODUCT_RATE_LIMIT=" + serviceRateLimit,
			"PRODUCT_RATE_BURST=" + serviceRateBurst,
			// The local stack's database, with its published password.
			config.DevEnv + "=1",
		},
		addr)
	if err != nil {
		return err
	}
	env.uncached, env.uncachedURL = proc, "http://"+addr
	fmt.Fprintf(log, "kitbench: product instance with the read cache off ready on %s\n", addr)
	return nil
}

// startHelper starts bin/<binary> as name, logging to .run/bench/logs, and
// waits up to 30 s for GET http://addr<readyPath> to answer 200; on failure
// it stops the process and shows the end of its log.
func startHelper(ctx context.Context, o options, name, binary, readyPath string, args, env []string, addr string) (*devenv.Process, error) {
	proc, err := devenv.StartProcess(ctx, devenv.ProcessConfig{
		Name:    name,
		Path:    filepath.Join(o.binDir, binary),
		Args:    args,
		Env:     env,
		LogPath: filepath.Join(o.root, ".run", "bench", "logs", name+".log"),
		Dir:     o.root,
	})
	if err != nil {
		return nil, fmt.Errorf("%w (run `make build`)", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// A helper that exits (a bad flag, no database) fails now, not after
	// the 30 s, and says why from the last line of its log.
	go func() {
		select {
		case <-proc.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := devenv.WaitHTTP(wctx, "http://"+addr+readyPath, http.StatusOK); err != nil {
		tail := proc.LogTail(20)
		select {
		case <-proc.Done():
			exited := "exited"
			if err := proc.Err(); err != nil {
				exited += " (" + err.Error() + ")"
			}
			return nil, fmt.Errorf("%s %s before GET %s answered: %s\nlog %s:\n%s", name, exited, readyPath, lastLine(tail), proc.LogPath(), tail)
		default:
		}
		proc.Stop(5 * time.Second)
		return nil, fmt.Errorf("%s: %w\nlog %s:\n%s", name, err, proc.LogPath(), tail)
	}
	return proc, nil
}

// lastLine returns the last line of s that is not blank (a log's last
// words).
func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// Close stops the bare handler, the go-zero peer and, if kitbench started
// it, the stack.
func (env *environment) Close() error {
	var errs []error
	if env.uncached != nil {
		errs = append(errs, env.uncached.Stop(10*time.Second))
	}
	if env.extra != nil {
		errs = append(errs, env.extra.stop()...)
	}
	if env.bare != nil {
		errs = append(errs, env.bare.Stop(10*time.Second))
	}
	if env.gozero != nil {
		errs = append(errs, env.gozero.Stop(10*time.Second))
	}
	if env.own != nil {
		errs = append(errs, env.own.Stop())
	}
	return errors.Join(errs...)
}

// instance is a service instance as Consul lists it.
type instance struct {
	Service  string
	ID       string
	HTTPAddr string
	GRPCAddr string
}

// instances returns the passing instances of service, sorted by id, from
// Consul's health API.
func (env *environment) instances(ctx context.Context, service string) ([]instance, error) {
	var entries []struct {
		Service struct {
			ID      string
			Service string
			Address string
			Port    int
			Meta    map[string]string
		}
	}
	if err := getJSON(ctx, env.consulURL+"/v1/health/service/"+url.PathEscape(service)+"?passing", &entries); err != nil {
		return nil, fmt.Errorf("consul: instances of %s: %w", service, err)
	}
	var out []instance
	for _, e := range entries {
		s := e.Service
		inst := instance{Service: s.Service, ID: s.ID, HTTPAddr: net.JoinHostPort(s.Address, strconv.Itoa(s.Port))}
		if p := s.Meta["grpc_port"]; p != "" {
			inst.GRPCAddr = net.JoinHostPort(s.Address, p)
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// namedPID is a process whose memory the report shows.
type namedPID struct {
	name string
	pid  int
	note string
}

// processes returns the stack's processes, the bare handler and the go-zero
// peer. For a stack kitbench started they are known; for a running one they
// are found by the ports they listen on (Consul's list of services, the
// gateway's, Consul's and Postgres's ports).
func (env *environment) processes(ctx context.Context) ([]namedPID, []string) {
	var out []namedPID
	var problems []string
	note := func(name string) string {
		if name == "postgres" {
			return "postmaster only; backends are separate processes"
		}
		return ""
	}
	if env.own != nil {
		for _, p := range env.own.Processes() {
			out = append(out, namedPID{name: p.Name(), pid: p.Pid(), note: note(p.Name())})
		}
	} else {
		byPort := func(name, hostport string) {
			_, port, err := net.SplitHostPort(hostport)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
				return
			}
			n, _ := strconv.Atoi(port)
			pid, err := bench.PidListening(n)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
				return
			}
			out = append(out, namedPID{name: name, pid: pid, note: note(name)})
		}
		if u, err := url.Parse(env.productDB); err == nil {
			byPort("postgres", u.Host)
		}
		if u, err := url.Parse(env.consulURL); err == nil {
			byPort("consul", u.Host)
		}
		var services map[string]struct {
			ID      string
			Address string
			Port    int
		}
		if err := getJSON(ctx, env.consulURL+"/v1/agent/services", &services); err != nil {
			problems = append(problems, "consul services: "+err.Error())
		}
		ids := make([]string, 0, len(services))
		for id := range services {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			s := services[id]
			byPort(s.ID, net.JoinHostPort(s.Address, strconv.Itoa(s.Port)))
		}
		if u, err := url.Parse(env.gatewayURL); err == nil {
			byPort("gateway", u.Host)
		}
	}
	if env.bare != nil {
		out = append(out, namedPID{name: "bare", pid: env.bare.Pid()})
	}
	if env.gozero != nil {
		out = append(out, namedPID{name: gozeroBinary, pid: env.gozero.Pid()})
	}
	return out, problems
}

// getJSON GETs url and decodes its JSON answer into dst; any status but 200
// is an error.
func getJSON(ctx context.Context, url string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(dst)
}
