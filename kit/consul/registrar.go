package consul

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/hashicorp/consul/api"

	"github.com/kitshop/kitshop/kit/errs"
)

// Registration defaults.
const (
	// DefaultCheckInterval is how often Consul checks an instance: a
	// failing instance stops getting traffic within about two intervals.
	DefaultCheckInterval = 2 * time.Second
	// DefaultCheckTimeout bounds one check; a slow answer counts as failed.
	DefaultCheckTimeout = 1 * time.Second
	// DefaultDeregisterCriticalAfter is how long Consul keeps an instance
	// whose checks fail before removing it (Consul's minimum and
	// granularity is one minute).
	DefaultDeregisterCriticalAfter = time.Minute
)

// Registration describes one instance of a service to register.
//
// The instance is registered with Port = HTTPPort, meta MetaHTTPPort,
// MetaGRPCPort (if GRPCPort is set) and MetaAPIPrefix (if APIPrefix is set)
// added to Meta (they win over keys of the same name), and tag TagAPI added to
// Tags when APIPrefix is set. Consul checks it two ways: HTTP GET
// http://Address:HTTPPort/readyz and, if GRPCPort is set, the standard gRPC
// health service at Address:GRPCPort in plaintext. Both must pass for callers
// to see the instance.
type Registration struct {
	Name      string            // service name, such as "catalog"; required
	ID        string            // unique instance ID; "" means Name-<random hex>
	Address   string            // address Consul and callers reach the instance on; required
	HTTPPort  int               // required
	GRPCPort  int               // 0: no gRPC server and no gRPC check
	APIPrefix string            // public HTTP path prefix served by the instance, or ""
	Meta      map[string]string // extra service meta
	Tags      []string          // extra tags

	CheckInterval time.Duration // how often Consul runs each check; 0 means DefaultCheckInterval, else >= 1s
	CheckTimeout  time.Duration // 0 means DefaultCheckTimeout
	// DeregisterCriticalAfter is how long a check may stay critical before
	// Consul removes the instance (one that crashed without deregistering).
	// 0 means DefaultDeregisterCriticalAfter; Consul works in minutes, so
	// shorter values are rejected.
	DeregisterCriticalAfter time.Duration
}

// Registrar keeps one service instance registered with the local Consul
// agent. It implements server.Registrar and is safe for concurrent use.
type Registrar struct {
	client Client
	reg    *api.AgentServiceRegistration
	err    error // the Registration's validation error, returned by Register
	logger log.Logger
	opts   options

	life context.Context // ended by Deregister
	end  context.CancelFunc
	wg   sync.WaitGroup // the Register retry loop and the recheck loop

	mu      sync.Mutex
	started bool
	stopped bool
}

// NewRegistrar returns a Registrar for r. Nothing is sent to Consul until
// Register. An invalid r makes Register fail with an errs.Invalid error.
func NewRegistrar(c Client, r Registration, logger log.Logger, opts ...Option) *Registrar {
	if r.ID == "" {
		r.ID = NewInstanceID(r.Name)
	}
	reg, err := r.agentRegistration()
	life, end := context.WithCancel(context.Background())
	return &Registrar{
		client: c,
		reg:    reg,
		err:    err,
		logger: log.With(logger, "component", "consul.registrar", "service", r.Name, "instance", r.ID),
		opts:   newOptions(opts),
		life:   life,
		end:    end,
	}
}

// ID returns the instance ID the Registrar registers.
func (r *Registrar) ID() string { return r.reg.ID }

// Registration returns the registration as sent to Consul (a copy is not
// made: do not modify it). It is nil when the Registration was invalid.
func (r *Registrar) Registration() *api.AgentServiceRegistration {
	if r.err != nil {
		return nil
	}
	return r.reg
}

// Register registers the instance, retrying with exponential backoff until
// the agent accepts it, so a service may start before Consul. It returns
// nil once registered; ctx.Err() (wrapped) if ctx ends first; ErrStopped if
// Deregister is called first; and an errs.Invalid error, without retrying, if
// the registration is invalid or the agent rejects it as malformed.
//
// Once registered, a background loop checks every second that the agent
// still knows the instance and registers it again if not (after a Consul
// restart), until Deregister; ctx does not bound that loop. Register may be
// called once.
func (r *Registrar) Register(ctx context.Context) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	switch {
	case r.stopped:
		r.mu.Unlock()
		return ErrStopped
	case r.started:
		r.mu.Unlock()
		return errors.New("consul: Register called twice")
	}
	r.started = true
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.life, cancel)() // Deregister interrupts the retries

	if err := r.registerWithRetry(ctx); err != nil {
		return err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.wg.Add(1) // legal: this Register still holds the group open
		go r.keepRegistered()
	}
	return nil
}

func (r *Registrar) registerWithRetry(ctx context.Context) error {
	bo := newBackoff(r.opts)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := r.client.Register(actx, r.reg)
		cancel()
		if err == nil {
			level.Info(r.logger).Log("msg", "registered", "attempts", attempt,
				"http_port", r.reg.Port, "grpc_port", r.reg.Meta[MetaGRPCPort])
			return nil
		}
		if rejected(err) {
			level.Error(r.logger).Log("msg", "consul rejected the registration", "err", err)
			return errs.Wrap(err, errs.Invalid, "consul rejected the registration")
		}
		d := bo.next()
		level.Warn(r.logger).Log("msg", "register failed; retrying", "attempt", attempt, "retry_in", d, "err", err)
		if !sleep(ctx, d) {
			break
		}
	}
	if r.life.Err() != nil {
		return ErrStopped
	}
	return fmt.Errorf("consul: register %s: %w", r.reg.ID, ctx.Err())
}

// rejected reports whether the agent refused the registration itself
// (HTTP 400): retrying the same request cannot succeed.
func rejected(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusBadRequest
}

// keepRegistered re-registers the instance whenever the agent has forgotten
// it. A dev-mode or freshly rebuilt Consul knows nothing of services
// registered before it restarted, and nothing else would tell them.
func (r *Registrar) keepRegistered() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.recheck)
	defer t.Stop()
	reachable := true
	for {
		select {
		case <-r.life.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.life, requestTimeout)
		known, err := r.client.Registered(ctx, r.reg.ID)
		if err == nil && !known {
			level.Warn(r.logger).Log("msg", "consul agent lost the registration; registering again")
			err = r.client.Register(ctx, r.reg)
			if err == nil {
				level.Info(r.logger).Log("msg", "registered again")
			}
		}
		cancel()
		switch {
		case r.life.Err() != nil:
			return
		case err != nil && reachable:
			level.Warn(r.logger).Log("msg", "cannot check registration; will keep trying", "every", r.opts.recheck, "err", err)
			reachable = false
		case err == nil && !reachable:
			level.Info(r.logger).Log("msg", "consul reachable again")
			reachable = true
		}
	}
}

// Deregister stops the Register retries and the re-register loop, then
// removes the instance from the agent: one attempt, bounded by ctx and a
// short timeout, because it runs during shutdown. Failures are logged and
// returned; Consul removes the instance by itself once its checks have been
// critical for DeregisterCriticalAfter. Calling it again, or before
// Register, does nothing.
func (r *Registrar) Deregister(ctx context.Context) error {
	r.mu.Lock()
	first, started := !r.stopped, r.started
	r.stopped = true
	r.mu.Unlock()

	r.end()
	r.wg.Wait() // nothing may register again after the deregistration below
	if !first || !started || r.err != nil {
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, deregisterTimeout)
	defer cancel()
	if err := r.client.Deregister(ctx, r.reg.ID); err != nil {
		level.Error(r.logger).Log("msg", "deregister failed; consul will drop the instance once its checks fail", "err", err)
		return fmt.Errorf("consul: deregister %s: %w", r.reg.ID, err)
	}
	level.Info(r.logger).Log("msg", "deregistered")
	return nil
}

// agentRegistration validates r and builds what is sent to the agent.
func (r Registration) agentRegistration() (*api.AgentServiceRegistration, error) {
	var fields []errs.FieldError
	invalid := func(field, msg string) { fields = append(fields, errs.FieldError{Field: field, Message: msg}) }
	if r.Name == "" || strings.ContainsAny(r.Name, "/ ") {
		invalid("Name", "must be a non-empty name without spaces or slashes")
	}
	if strings.ContainsAny(r.ID, "/ ") {
		invalid("ID", "must not contain spaces or slashes")
	}
	if r.Address == "" {
		invalid("Address", "must not be empty")
	}
	if r.HTTPPort <= 0 || r.HTTPPort > 65535 {
		invalid("HTTPPort", "must be a port number")
	}
	if r.GRPCPort < 0 || r.GRPCPort > 65535 {
		invalid("GRPCPort", "must be a port number or 0")
	}
	if r.APIPrefix != "" && !strings.HasPrefix(r.APIPrefix, "/") {
		invalid("APIPrefix", `must start with "/"`)
	}
	interval := orDefault(r.CheckInterval, DefaultCheckInterval)
	if interval < time.Second {
		invalid("CheckInterval", "must be at least 1s (Consul's minimum)")
	}
	timeout := orDefault(r.CheckTimeout, DefaultCheckTimeout)
	if timeout < 0 {
		invalid("CheckTimeout", "must not be negative")
	}
	deregAfter := orDefault(r.DeregisterCriticalAfter, DefaultDeregisterCriticalAfter)
	if deregAfter < time.Minute {
		invalid("DeregisterCriticalAfter", "must be at least 1m (Consul's granularity)")
	}
	if len(fields) > 0 {
		return &api.AgentServiceRegistration{ID: r.ID, Name: r.Name}, errs.InvalidFields(fields...)
	}

	meta := maps.Clone(r.Meta)
	if meta == nil {
		meta = make(map[string]string)
	}
	meta[MetaHTTPPort] = strconv.Itoa(r.HTTPPort)
	if r.GRPCPort > 0 {
		meta[MetaGRPCPort] = strconv.Itoa(r.GRPCPort)
	}
	if r.APIPrefix != "" {
		meta[MetaAPIPrefix] = r.APIPrefix
	}
	tags := slices.Clone(r.Tags)
	if r.APIPrefix != "" && !slices.Contains(tags, TagAPI) {
		tags = append(tags, TagAPI)
	}

	checks := api.AgentServiceChecks{{
		CheckID:                        "service:" + r.ID + ":readyz",
		Name:                           "HTTP /readyz",
		HTTP:                           "http://" + net.JoinHostPort(r.Address, strconv.Itoa(r.HTTPPort)) + "/readyz",
		Method:                         http.MethodGet,
		Interval:                       interval.String(),
		Timeout:                        timeout.String(),
		DeregisterCriticalServiceAfter: deregAfter.String(),
	}}
	if r.GRPCPort > 0 {
		checks = append(checks, &api.AgentServiceCheck{
			CheckID:                        "service:" + r.ID + ":grpc",
			Name:                           "gRPC health",
			GRPC:                           net.JoinHostPort(r.Address, strconv.Itoa(r.GRPCPort)),
			GRPCUseTLS:                     false,
			Interval:                       interval.String(),
			Timeout:                        timeout.String(),
			DeregisterCriticalServiceAfter: deregAfter.String(),
		})
	}
	return &api.AgentServiceRegistration{
		ID:      r.ID,
		Name:    r.Name,
		Address: r.Address,
		Port:    r.HTTPPort,
		Tags:    tags,
		Meta:    meta,
		Checks:  checks,
	}, nil
}

// orDefault returns d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// NewInstanceID returns a fresh instance id for the named service,
// "<name>-<16 hex digits>": unique among the instances of one service, so
// that several can register side by side. Registrations without an ID get
// one; mains that log the id before registering call it themselves.
func NewInstanceID(name string) string { return name + "-" + randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
