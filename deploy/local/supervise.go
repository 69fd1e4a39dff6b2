package local

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kitshop/kitshop/internal/devenv"
)

// Restart policy of Supervise: the first restart comes after restartPause,
// each further one in a row after twice the pause before, up to
// maxRestartPause; a process that ran for stableAfter before it died starts
// the series over. After maxRestartFailures failed restarts in a row,
// Supervise gives up.
const (
	restartPause       = time.Second
	maxRestartPause    = 30 * time.Second
	stableAfter        = 30 * time.Second
	maxRestartFailures = 5
)

// supervised is a process of the stack that Supervise restarts when it dies:
// infrastructure (PostgreSQL, Consul, NATS) or a service instance. Another
// server the stack comes to run is supervised by adding one more.
type supervised struct {
	name string
	// current returns the running process; restart replaces it.
	current func() *devenv.Process
	// restart starts the process again as before — same data, ports and
	// log — and returns once it is ready for its clients.
	restart func(ctx context.Context) error
}

// supervised returns what Supervise looks after, in start order.
func (s *Stack) supervised() []supervised {
	units := []supervised{
		{
			name:    "postgres",
			current: s.pg.Process,
			restart: func(ctx context.Context) error {
				if err := s.pg.Restart(ctx); err != nil {
					return err
				}
				s.progress("%-10s restarted on 127.0.0.1:%d (data %s)", "postgres", s.pg.Port(), s.pg.DataDir())
				return nil
			},
		},
		{
			name:    "consul",
			current: s.consul.Process,
			restart: func(ctx context.Context) error {
				if err := s.consul.Restart(ctx); err != nil {
					return err
				}
				s.progress("%-10s restarted on %s (empty: the services register again by themselves)", "consul", s.consul.Addr())
				return nil
			},
		},
		{
			name:    "nats",
			current: s.nats.Process,
			restart: func(ctx context.Context) error {
				if err := s.nats.Restart(ctx); err != nil {
					return err
				}
				s.progress("%-10s restarted on %s (streams and consumers kept in %s; the services reconnect by themselves)",
					"nats", s.nats.URL(), s.nats.StoreDir())
				return nil
			},
		},
	}
	for _, svc := range s.cfg.Services {
		for _, inst := range s.Instances(svc.Name) {
			id, service := inst.ID, inst.Service
			units = append(units, supervised{
				name: id,
				current: func() *devenv.Process {
					for _, cur := range s.Instances(service) {
						if cur.ID == id {
							return cur.Process
						}
					}
					return nil // cannot happen: instances are never removed
				},
				restart: func(ctx context.Context) error {
					_, err := s.Restart(ctx, id)
					return err
				},
			})
		}
	}
	return units
}

// Supervise keeps the stack running until ctx is done, as a process
// supervisor (compose's restart policy, a Kubernetes Deployment) would: a
// service instance, PostgreSQL, Consul or NATS that exits on its own — a
// crash, a SIGKILL — is reported on Config.Progress and restarted after a
// pause that grows while it keeps dying, with the same command line, data,
// ports and log. The rest of the stack keeps running meanwhile: the gateway
// routes to the other instances, and from what it last heard while Consul is
// away; the services reconnect to PostgreSQL and NATS (keeping their events
// in their outboxes meanwhile) and register again in a restarted Consul by
// themselves. The gateway exiting, or a process that cannot be restarted
// maxRestartFailures times in a row, ends supervision with an error naming
// it. It returns nil when ctx is done, once no restart is under way; call
// Stop only after that.
func (s *Stack) Supervise(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	units := s.supervised()
	errc := make(chan error, len(units)+1)
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(func() {
			if err := s.keepRunning(ctx, u); err != nil {
				errc <- err
			}
		})
	}
	if s.gateway != nil {
		wg.Go(func() {
			select {
			case <-s.gateway.Done():
				errc <- exitError(s.gateway)
			case <-ctx.Done():
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	return err
}

// keepRunning restarts u each time it dies until ctx is done (nil) or it
// cannot be restarted (an error).
func (s *Stack) keepRunning(ctx context.Context, u supervised) error {
	pause := restartPause
	for {
		p := u.current()
		began := time.Now()
		select {
		case <-ctx.Done():
			return nil
		case <-p.Done():
		}
		if s.stopping.Load() {
			return nil
		}
		if time.Since(began) >= stableAfter {
			pause = restartPause
		}
		s.progress("%-10s exited unexpectedly (%v); restarting it in %s", u.name, p.Err(), pause)
		for failures := 1; ; failures++ {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			pause = min(2*pause, maxRestartPause)
			if s.stopping.Load() {
				return nil
			}
			err := u.restart(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if failures == maxRestartFailures {
				return fmt.Errorf("restarting %s failed %d times in a row, the last time: %w", u.name, failures, err)
			}
			s.progress("%-10s could not be restarted (%v); trying again in %s", u.name, err, pause)
		}
	}
}

// Restart starts the instance with the given id again, with the same
// command line, environment and ports, and returns it once it answers
// /readyz with 200 and Consul reports it passing. An instance still running
// is stopped first (gracefully, as Stop does). It is for tests that take
// instances down on purpose (a crash, an outage) and need them back; other
// instances may be down meanwhile, and only the restarted process's exit
// ends the wait early. The log continues in the same file.
func (s *Stack) Restart(ctx context.Context, id string) (*Instance, error) {
	s.mu.Lock()
	pc, ok := s.starts[id]
	var (
		old             *Instance
		svcIdx, instIdx int
	)
	for i, insts := range s.instances {
		for j, inst := range insts {
			if inst.ID == id {
				old, svcIdx, instIdx = inst, i, j
			}
		}
	}
	s.mu.Unlock()
	if !ok || old == nil {
		return nil, fmt.Errorf("restart: no instance %q in the stack", id)
	}
	if err := old.Process.Stop(serviceGrace); err != nil {
		return nil, fmt.Errorf("restart %s: stopping it: %w", id, err)
	}
	proc, err := devenv.StartProcess(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	inst := *old
	inst.Process = proc
	s.mu.Lock()
	s.instances[svcIdx][instIdx] = &inst
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	exited := func() *devenv.Process {
		select {
		case <-proc.Done():
			return proc
		default:
			return nil
		}
	}
	if err := s.awaitReady(ctx, &inst, exited); err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	if err := s.awaitPassing(ctx, inst.Service, []*Instance{&inst}, exited); err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	s.progress("%-10s restarted on http %s, grpc %s", inst.ID, inst.HTTPAddr, inst.GRPCAddr)
	return &inst, nil
}
