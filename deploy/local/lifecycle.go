package local

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/kitshop/kitshop/internal/devenv"
)

// processes returns every running process of the stack in start order.
func (s *Stack) processes() []*devenv.Process {
	var procs []*devenv.Process
	if s.pg != nil {
		procs = append(procs, s.pg.Process())
	}
	if s.consul != nil {
		procs = append(procs, s.consul.Process())
	}
	if s.nats != nil {
		procs = append(procs, s.nats.Process())
	}
	s.mu.Lock()
	for _, insts := range s.instances {
		for _, inst := range insts {
			procs = append(procs, inst.Process)
		}
	}
	s.mu.Unlock()
	if s.gateway != nil {
		procs = append(procs, s.gateway)
	}
	return procs
}

// exited returns a process of the stack that has exited, or nil.
func (s *Stack) exited() *devenv.Process {
	for _, p := range s.processes() {
		select {
		case <-p.Done():
			return p
		default:
		}
	}
	return nil
}

func exitError(p *devenv.Process) error {
	return fmt.Errorf("%s exited unexpectedly (%v); log %s:\n%s", p.Name(), p.Err(), p.LogPath(), p.LogTail(20))
}

// Wait blocks until ctx is done (nil) or a process of the stack exits on its
// own (an error naming it, with the end of its log).
func (s *Stack) Wait(ctx context.Context) error {
	if p := s.waitExited(ctx); p != nil {
		return exitError(p)
	}
	return nil
}

// waitExited blocks until ctx is done (nil) or a process of the stack exits
// on its own, and returns that process.
func (s *Stack) waitExited(ctx context.Context) *devenv.Process {
	procs := s.processes()
	exited := make(chan *devenv.Process, len(procs))
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range procs {
		go func() {
			select {
			case <-p.Done():
				exited <- p
			case <-stop:
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-exited:
		return p
	}
}

// Stop stops everything in reverse dependency order: gateway first (no new
// requests), then the services (they deregister from Consul, drain, and
// stop consuming events), then NATS (its streams stay on disk), Consul and
// PostgreSQL. Instances of one service stop in parallel. It is safe to call
// more than once.
func (s *Stack) Stop() error {
	s.stopping.Store(true)
	s.stopOnce.Do(func() {
		var errs []error
		if s.gateway != nil {
			errs = append(errs, s.gateway.Stop(gatewayGrace))
		}
		s.mu.Lock()
		services := make([][]*Instance, len(s.instances))
		for i, insts := range s.instances {
			services[i] = slices.Clone(insts)
		}
		s.mu.Unlock()
		for i := len(services) - 1; i >= 0; i-- {
			var wg sync.WaitGroup
			instErrs := make([]error, len(services[i]))
			for j, inst := range services[i] {
				wg.Go(func() { instErrs[j] = inst.Process.Stop(serviceGrace) })
			}
			wg.Wait()
			errs = append(errs, instErrs...)
		}
		if s.nats != nil {
			errs = append(errs, s.nats.Stop())
		}
		if s.consul != nil {
			errs = append(errs, s.consul.Stop())
		}
		if s.pg != nil {
			errs = append(errs, s.pg.Stop())
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// GatewayURL returns the gateway's base URL, e.g. http://127.0.0.1:8080.
func (s *Stack) GatewayURL() string { return "http://" + s.gatewayAddr }

// GatewayMetricsURL returns the gateway's /metrics, on its internal
// listener (the public port has none).
func (s *Stack) GatewayMetricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.cfg.GatewayMetricsPort) + "/metrics"
}

// ConsulURL returns the Consul HTTP API base URL (UI at /ui/).
func (s *Stack) ConsulURL() string { return s.consul.URL() }

// ConsulAddr returns Consul's HTTP address, 127.0.0.1:port.
func (s *Stack) ConsulAddr() string { return s.consul.Addr() }

// NATSURL returns the NATS client URL, nats://127.0.0.1:port, which every
// service gets as <PREFIX>_NATS_URL.
func (s *Stack) NATSURL() string { return s.nats.URL() }

// NATSMonitorURL returns the NATS monitoring base URL (/healthz, /jsz,
// /connz), http://127.0.0.1:port.
func (s *Stack) NATSMonitorURL() string { return s.nats.MonitorURL() }

// NATS returns the stack's NATS server (its process, its storage).
func (s *Stack) NATS() *devenv.NATS { return s.nats }

// Postgres returns the stack's PostgreSQL server.
func (s *Stack) Postgres() *devenv.Postgres { return s.pg }

// LogDir returns the directory holding one <name>.log per process.
func (s *Stack) LogDir() string { return s.logDir }

// Processes returns every process of the stack in start order: PostgreSQL,
// Consul, NATS, the service instances and the gateway. Callers use it to check
// that Stop left nothing running; stopping them is Stop's job.
func (s *Stack) Processes() []*devenv.Process { return s.processes() }

// Instances returns the instances of the named service, as last started:
// after a Restart, the new process replaces the old one here (an *Instance
// got earlier keeps the old, exited process).
func (s *Stack) Instances(service string) []*Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, svc := range s.cfg.Services {
		if svc.Name == service && i < len(s.instances) {
			return slices.Clone(s.instances[i])
		}
	}
	return nil
}
