package breaker

import (
	"context"
	"errors"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

// Hystrix is a Breaker backed by github.com/afex/hystrix-go.
//
// It enforces Settings.MaxConcurrent itself rather than through hystrix's
// ticket pool: hystrix hands a ticket back on a goroutine after the call has
// already returned, so a caller making fast calls in a row outruns the
// returns and gets spurious "max concurrency" rejections (measured: one call
// in nine with a limit of 10). The semaphore here is released before Execute
// returns; hystrix's own pool is sized so it practically never binds.
type Hystrix struct {
	name     string
	settings Settings
	inFlight chan struct{} // semaphore of MaxConcurrent slots
}

// hystrixPoolSize is the size of hystrix's own ticket pool: large enough to
// absorb its lagging ticket returns, small enough to cost little (a channel
// of pointers, 80 KB).
const hystrixPoolSize = 10000

// errOverloaded is what run reports to hystrix when all MaxConcurrent slots
// are busy. Hystrix counts it as a failure, as it counts its own rejections:
// a dependency that cannot keep up is failing.
var errOverloaded = errors.New("breaker: max concurrent calls in flight")

var _ Breaker = (*Hystrix)(nil)

// NewHystrix configures the hystrix command name with s (zero fields take the
// defaults) and returns a Breaker for it. name must be unique per dependency:
// hystrix keeps one process-wide circuit per name, so two Hystrix values with
// the same name share a circuit, and the concurrency limit of whichever was
// configured first.
func NewHystrix(name string, s Settings) *Hystrix {
	s = s.withDefaults()
	hystrix.ConfigureCommand(name, hystrix.CommandConfig{
		Timeout:                millis(s.Timeout),
		MaxConcurrentRequests:  max(hystrixPoolSize, 2*s.MaxConcurrent),
		RequestVolumeThreshold: s.VolumeThreshold,
		SleepWindow:            millis(s.SleepWindow),
		ErrorPercentThreshold:  s.ErrorPercent,
	})
	// Create the circuit now, while the settings above are in force: its
	// concurrency pool is sized once, on creation.
	_, _, _ = hystrix.GetCircuit(name)
	return &Hystrix{name: name, settings: s, inFlight: make(chan struct{}, s.MaxConcurrent)}
}

// millis converts d to hystrix's whole milliseconds, rounding up so a
// sub-millisecond setting does not become hystrix's default.
func millis(d time.Duration) int {
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// Name returns the hystrix command name.
func (h *Hystrix) Name() string { return h.name }

// Settings returns the settings in force, defaults filled in.
func (h *Hystrix) Settings() Settings { return h.settings }

// Open reports whether the circuit is open, that is rejecting calls. Like
// hystrix itself it evaluates the recent error rate, so it may open the
// circuit as a side effect.
func (h *Hystrix) Open() bool {
	c, _, err := hystrix.GetCircuit(h.name)
	return err == nil && c.IsOpen()
}

// Execute implements Breaker.
func (h *Hystrix) Execute(ctx context.Context, run func(context.Context) error) error {
	// run gets its own cancellable context so that, when hystrix gives up on
	// it (breaker timeout), the abandoned call is told to stop instead of
	// leaking. Hystrix itself watches ctx, not runCtx: cancelling runCtx
	// after a success must not race with hystrix recording that success.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := hystrix.DoC(ctx, h.name, func(context.Context) error {
		select {
		case h.inFlight <- struct{}{}:
		default:
			return errOverloaded
		}
		defer func() { <-h.inFlight }()
		return run(runCtx)
	}, nil)
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, hystrix.ErrCircuitOpen):
		return unavailable("dependency unavailable: circuit open", h.settings.SleepWindow, err)
	case errors.Is(err, errOverloaded), errors.Is(err, hystrix.ErrMaxConcurrency):
		return unavailable("dependency overloaded", time.Second, err)
	case errors.Is(err, hystrix.ErrTimeout):
		return unavailable("dependency timed out", time.Second, err)
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// Hystrix returns the bare ctx error when the caller gives up first.
		return ctxError(err)
	}
	return err
}
