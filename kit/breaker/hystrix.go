package breaker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

// Hystrix is a Breaker backed by github.com/afex/hystrix-go's circuit: the
// circuit decides whether a call may run and keeps the rolling error rate
// that opens and closes it, with hystrix's own settings and metrics.
//
// It runs calls on the caller's goroutine rather than through hystrix.Do,
// which starts two goroutines, a timer and three channels per call: about
// 10µs and 24 allocations for a call that does nothing (measured with
// BenchmarkHystrixExecute), paid by every request a gateway forwards. The
// circuit is asked (AllowRequest) before run and told the outcome
// (ReportEvent) after it, exactly as hystrix.Do does. Two consequences:
//
//   - The breaker timeout cancels run's context instead of abandoning run,
//     so run must return promptly once its context is done (a call that
//     ignores its context holds Execute up, and still counts as a timeout).
//   - Settings.MaxConcurrent is enforced here with a semaphore released
//     before Execute returns, not with hystrix's ticket pool, which hands
//     tickets back on a goroutine after the call has returned, so a caller
//     making fast calls in a row outran the returns and got spurious "max
//     concurrency" rejections (one call in nine with a limit of 10).
type Hystrix struct {
	name     string
	settings atomic.Pointer[Settings]
	circuit  *hystrix.CircuitBreaker
	inFlight chan struct{} // semaphore of MaxConcurrent slots
}

// hystrixPoolSize is the size of hystrix's own ticket pool, which Execute
// never draws from: it only sizes the "concurrency in use" hystrix reports.
// A channel of pointers, 80 KB.
const hystrixPoolSize = 10000

// errOverloaded is the cause of a call rejected because all MaxConcurrent
// slots are busy. Hystrix counts it as an error ("rejected"), as it counts
// its own rejections: a dependency that cannot keep up is failing.
var errOverloaded = errors.New("breaker: max concurrent calls in flight")

// errBreakerTimeout is the cause of run's context when the breaker
// timeout ended it (context.Cause).
var errBreakerTimeout = errors.New("breaker: call exceeded the breaker timeout")

// Hystrix event types (hystrix-go's names, which its metrics count).
const (
	eventSuccess         = "success"
	eventFailure         = "failure"
	eventRejected        = "rejected"
	eventShortCircuit    = "short-circuit"
	eventTimeout         = "timeout"
	eventCanceled        = "context_canceled"
	eventDeadlineExceeds = "context_deadline_exceeded"
)

// The event lists ReportEvent is given, allocated once: hystrix only reads
// them.
var (
	eventsSuccess         = []string{eventSuccess}
	eventsFailure         = []string{eventFailure}
	eventsRejected        = []string{eventRejected}
	eventsShortCircuit    = []string{eventShortCircuit}
	eventsTimeout         = []string{eventTimeout}
	eventsCanceled        = []string{eventCanceled}
	eventsDeadlineExceeds = []string{eventDeadlineExceeds}
)

var _ Breaker = (*Hystrix)(nil)

// NewHystrix configures the hystrix command name with s (zero fields take the
// defaults) and returns a Breaker for it. name must be unique per dependency:
// hystrix keeps one process-wide circuit per name, so two Hystrix values with
// the same name share a circuit.
func NewHystrix(name string, s Settings) *Hystrix {
	s = s.withDefaults()
	configure(name, s)
	// Create the circuit now, while the settings above are in force, and
	// keep it: looking it up by name per call takes a global lock.
	// GetCircuit never fails.
	c, _, _ := hystrix.GetCircuit(name)
	h := &Hystrix{name: name, circuit: c, inFlight: make(chan struct{}, s.MaxConcurrent)}
	h.settings.Store(&s)
	return h
}

func configure(name string, s Settings) {
	hystrix.ConfigureCommand(name, hystrix.CommandConfig{
		Timeout:                millis(s.Timeout),
		MaxConcurrentRequests:  max(hystrixPoolSize, 2*s.MaxConcurrent),
		RequestVolumeThreshold: s.VolumeThreshold,
		SleepWindow:            millis(s.SleepWindow),
		ErrorPercentThreshold:  s.ErrorPercent,
	})
}

// Reconfigure changes the settings in force, for live configuration: the
// circuit reads its thresholds and sleep window afresh on every call, and
// Execute its timeout. MaxConcurrent keeps its first value (it sizes a
// semaphore calls may be holding).
func (h *Hystrix) Reconfigure(s Settings) {
	s = s.withDefaults()
	s.MaxConcurrent = h.Settings().MaxConcurrent
	configure(h.name, s)
	h.settings.Store(&s)
}

// millis converts d to hystrix's whole milliseconds, rounding up so a
// sub-millisecond setting does not become hystrix's default.
func millis(d time.Duration) int {
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// Name returns the hystrix command name.
func (h *Hystrix) Name() string { return h.name }

// Settings returns the settings in force, defaults filled in.
func (h *Hystrix) Settings() Settings { return *h.settings.Load() }

// Open reports whether the circuit is open, that is rejecting calls. Like
// hystrix itself it evaluates the recent error rate, so it may open the
// circuit as a side effect.
func (h *Hystrix) Open() bool { return h.circuit.IsOpen() }

// Execute implements Breaker. run gets a context that ends with ctx or at
// the breaker timeout, whichever comes first.
func (h *Hystrix) Execute(ctx context.Context, run func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		// The caller has gone already: nothing to protect, nothing to learn
		// about the dependency.
		return ctxError(err)
	}
	start := time.Now()
	if !h.circuit.AllowRequest() {
		h.report(eventsShortCircuit, start, 0)
		return unavailable("dependency unavailable: circuit open", h.Settings().SleepWindow, hystrix.ErrCircuitOpen)
	}
	select {
	case h.inFlight <- struct{}{}:
	default:
		h.report(eventsRejected, start, 0)
		return unavailable("dependency overloaded", time.Second, errOverloaded)
	}

	var (
		err      error
		timedOut bool
	)
	timeout := h.settings.Load().Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= timeout {
		// The caller's deadline comes first, so the breaker's could never
		// fire: spare the timer and the context.
		err = run(ctx)
	} else {
		runCtx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(timeout, func() { cancel(errBreakerTimeout) })
		err = run(runCtx)
		// Stop reports false once the timer has fired: run overran the
		// breaker timeout, whatever it returned.
		timedOut = !timer.Stop()
		cancel(nil)
	}
	took := time.Since(start)
	<-h.inFlight

	switch {
	case timedOut:
		h.report(eventsTimeout, start, took)
		return unavailable("dependency timed out", time.Second, hystrix.ErrTimeout)
	case err == nil:
		h.report(eventsSuccess, start, took)
		return nil
	case ctx.Err() != nil:
		// The caller gave up (or its deadline passed) while run was
		// running; hystrix counts neither as the dependency's failure.
		cerr := ctx.Err()
		if errors.Is(cerr, context.DeadlineExceeded) {
			h.report(eventsDeadlineExceeds, start, took)
		} else {
			h.report(eventsCanceled, start, took)
		}
		return ctxError(cerr)
	}
	h.report(eventsFailure, start, took)
	return err
}

// report tells the circuit how a call ended. ReportEvent only fails when
// hystrix's metrics queue is full, and then the event is dropped: the
// circuit then judges on the calls it did record.
func (h *Hystrix) report(events []string, start time.Time, took time.Duration) {
	_ = h.circuit.ReportEvent(events, start, took)
}
