package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
)

// CheckTimeout bounds each check during a readiness probe, so one hanging
// dependency cannot hold the probe past the prober's own timeout.
const CheckTimeout = 2 * time.Second

// Check is one dependency readiness depends on. Func returns nil when the
// dependency is usable. The client-safe message of its error (errs.Message)
// is shown in /readyz, so Funcs should return errs errors with a safe
// message, such as errs.Wrap(err, errs.Unavailable, "database unreachable").
type Check struct {
	Name string
	Func func(context.Context) error
}

// Degraded marks err, returned by a Check, as an outage the process works
// around: it can still serve some requests without the dependency (reads
// from a cache, say) and fails the others fast. Such a check does not make
// the process unready; /readyz answers 200 with status "degraded" and the
// check's message, so the instance stays in rotation. Degraded(nil) is nil.
func Degraded(err error) error {
	if err == nil {
		return nil
	}
	return degraded{err}
}

type degraded struct{ error }

func (d degraded) Unwrap() error { return d.error }

// IsDegraded reports whether err was marked with Degraded.
func IsDegraded(err error) bool {
	var d degraded
	return errors.As(err, &d)
}

// Health holds the process's readiness and its dependency checks. It is safe
// for concurrent use.
type Health struct {
	checks []Check
	grpc   *health.Server

	mu       sync.Mutex
	ready    bool
	services []string // gRPC service names that follow readiness, besides ""
}

// New returns a Health with the given checks that is not ready yet.
func New(checks ...Check) *Health {
	h := &Health{checks: checks, grpc: health.NewServer()}
	h.grpc.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return h
}

// SetReady marks the process ready or not, for /readyz and for the gRPC
// health status of "" and of every service added with AddGRPCService.
func (h *Health) SetReady(ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = ready
	st := servingStatus(ready)
	h.grpc.SetServingStatus("", st)
	for _, name := range h.services {
		h.grpc.SetServingStatus(name, st)
	}
}

// Ready reports the readiness last set with SetReady. It does not run the
// checks.
func (h *Health) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready
}

// GRPC returns the grpc.health.v1 server to register on the gRPC server.
func (h *Health) GRPC() *health.Server { return h.grpc }

// AddGRPCService makes the gRPC health status of the named service (such as
// "product.v1.ProductService") follow readiness too.
func (h *Health) AddGRPCService(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.services {
		if s == name {
			return
		}
	}
	h.services = append(h.services, name)
	h.grpc.SetServingStatus(name, servingStatus(h.ready))
}

func servingStatus(ready bool) healthpb.HealthCheckResponse_ServingStatus {
	if ready {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// LiveHandler serves /healthz: 200 {"status":"ok"} for as long as the process
// can answer at all. It checks nothing, so that a dependency outage never
// makes an orchestrator restart healthy processes.
func (h *Health) LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, response{Status: "ok"})
	})
}

// ReadyHandler serves /readyz: 200 {"status":"ready","checks":{...}} when the
// process is ready and every check passes, 200 {"status":"degraded",...}
// when the failing checks all returned Degraded errors, 503
// {"status":"not_ready",...} otherwise. Checks run concurrently, each bounded by CheckTimeout, and only
// while the process is ready: during startup and shutdown the answer is 503
// without touching dependencies.
func (h *Health) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, response{Status: "not_ready"})
			return
		}
		results, ok, degraded := h.runChecks(r.Context())
		resp := response{Status: "ready", Checks: results}
		status := http.StatusOK
		switch {
		case !ok:
			resp.Status = "not_ready"
			status = http.StatusServiceUnavailable
		case degraded:
			resp.Status = "degraded"
		}
		writeJSON(w, status, resp)
	})
}

// runChecks runs every check and returns a client-safe result per check
// name ("ok" or a message), whether all passed (a Degraded error passes)
// and whether any was degraded.
func (h *Health) runChecks(ctx context.Context) (map[string]string, bool, bool) {
	if len(h.checks) == 0 {
		return nil, true, false
	}
	type result struct {
		msg      string
		ok       bool
		degraded bool
	}
	results := make([]result, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			err := c.Func(ctx)
			deg := IsDegraded(err)
			msg := checkMessage(ctx, err)
			if deg {
				msg = "degraded: " + msg
			}
			results[i] = result{msg: msg, ok: err == nil || deg, degraded: deg}
		})
	}
	wg.Wait()
	out := make(map[string]string, len(h.checks))
	ok, degraded := true, false
	for i, c := range h.checks {
		out[c.Name] = results[i].msg
		ok = ok && results[i].ok
		degraded = degraded || results[i].degraded
	}
	return out, ok, degraded
}

// checkMessage is what /readyz shows for a check's outcome.
func checkMessage(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return "timed out"
	case errs.KindOf(err) == errs.Internal:
		// An unclassified error may say anything; do not show it.
		return "failing"
	}
	return errs.Message(err)
}

type response struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v response) {
	body, _ := json.Marshal(v) // strings only; cannot fail
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Probes must see the current state, never a cached one.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
