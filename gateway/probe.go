package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Defaults of the hung-instance detection (Config.ProbeInterval and
// Config.ProbeTimeout). Two probes in a row must fail, so an instance that
// stops answering is skipped about 400-600 ms later. The timeout is twice
// the interval so that an idle instance on a machine loaded far beyond its
// cores (a CI run) is not taken for a stopped one: its /healthz would have
// to take 200 ms twice in a row.
const (
	DefaultProbeInterval = 100 * time.Millisecond
	DefaultProbeTimeout  = 200 * time.Millisecond
)

// probePath is what the prober asks: kit/server's liveness, which touches
// no database, so a service whose database is out still counts as
// answering (and answers its requests with its own 503s).
const probePath = "/healthz"

// prober finds instances that have stopped answering (a stopped or hung
// process, a host gone silent) long before Consul's health checks fail them.
// It asks each instance's probePath every interval, through the gateway's
// transport but not through the breakers or the access log. An instance is
// unresponsive when two probes in a row have failed (a timeout or a
// connection error) and no response to a request has arrived from it since
// the first of them began; a refused connection, a process that is gone,
// counts at once. The second condition keeps an instance under heavy load,
// whose probes may queue behind its requests, in rotation: it keeps
// answering. Any probe answered (whatever its status) puts an unresponsive
// instance back, and so does a response to a request.
//
// Unresponsive instances are skipped like open circuits, and the attempts in
// flight to one are cancelled when it turns unresponsive, so a write stuck
// on it gets its 503 then, not at the end of the upstream timeout.
type prober struct {
	source            Source
	breakers          *breakers
	transport         http.RoundTripper
	interval, timeout time.Duration
	logger            log.Logger
	stop              context.CancelFunc
	done              chan struct{}
}

// startProber starts probing the instances of source's tables; stop it
// with stopProbes.
func startProber(p *prober) *prober {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go p.run(ctx)
	return p
}

// stopProbes ends every probe and waits for them.
func (p *prober) stopProbes() {
	p.stop()
	<-p.done
}

// probeTarget is one instance to probe, at its address.
type probeTarget struct {
	instanceKey
	addr string
}

// run follows the routing table, with one goroutine per instance.
func (p *prober) run(ctx context.Context) {
	defer close(p.done)
	var wg sync.WaitGroup
	watches := make(map[probeTarget]context.CancelFunc)
	defer func() {
		for _, cancel := range watches {
			cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var last *Table
	for {
		if t := p.source.Table(); t != last {
			last = t
			want := make(map[probeTarget]bool)
			for _, r := range t.routes {
				for _, in := range r.Instances {
					want[probeTarget{instanceKey{r.Service, in.ID}, in.HTTPAddr()}] = true
				}
			}
			for pt, cancel := range watches {
				if !want[pt] {
					cancel()
					delete(watches, pt)
				}
			}
			for pt := range want {
				if _, ok := watches[pt]; ok {
					continue
				}
				wctx, cancel := context.WithCancel(ctx)
				watches[pt] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.watch(wctx, pt)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// watch probes one instance until ctx ends.
func (p *prober) watch(ctx context.Context, pt probeTarget) {
	logger := log.With(p.logger, "service", pt.service, "instance", pt.id, "addr", pt.addr)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var (
		ib     *instanceBreaker // the instance's state when last probed
		failed int              // probes failed in a row since mark
		mark   uint64           // ib.answered when the first of them began
		down   bool
	)
	defer func() {
		if down {
			ib.unresponsive.Store(false) // gone from the table: no verdict left behind
		}
	}()
	for {
		cur := p.breakers.get(pt.service, pt.id)
		if cur != ib {
			// New, or recreated after the instance left the table and came
			// back: its counts start over.
			if down {
				ib.unresponsive.Store(false)
			}
			ib, failed, down = cur, 0, false
		}
		seen := ib.answered.Load()
		if down && seen != mark {
			// A request got an answer (one that was in flight already).
			down = false
			ib.unresponsive.Store(false)
			level.Info(logger).Log("msg", "instance answering again; back in rotation", "proof", "response")
		}
		err := p.probe(ctx, pt.addr)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			failed = 0
			if down {
				down = false
				ib.unresponsive.Store(false)
				level.Info(logger).Log("msg", "instance answering again; back in rotation", "proof", "probe")
			}
		case !down:
			now := ib.answered.Load()
			if failed == 0 || now != mark {
				failed, mark = 0, seen // responses keep coming: start over
			}
			failed++
			refused := errors.Is(err, syscall.ECONNREFUSED) && now == seen
			if refused || (failed >= 2 && now == mark) {
				down = true
				mark = now
				n := ib.setUnresponsive()
				level.Warn(logger).Log("msg", "instance unresponsive; skipping it", "failed_probes", failed,
					"cancelled_requests", n, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe asks the instance at addr for probePath; any response counts.
func (p *prober) probe(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+probePath, nil)
	if err != nil {
		return err
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	// Read to the end, so the connection goes back to the pool.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return nil
}
