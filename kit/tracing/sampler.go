package tracing

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The names of OTEL_TRACES_SAMPLER this package understands: those of the
// OpenTelemetry Go SDK.
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// Sampling is the sampler in force in a process: Config.Ratio's, or the
// one OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name.
type Sampling struct {
	// Sampler is the sampler's OTEL_TRACES_SAMPLER name, such as
	// parentbased_traceidratio (Config.Ratio's).
	Sampler string
	// Ratio is the share of new traces recorded by the ratio samplers
	// (traceidratio, parentbased_traceidratio), 0 for the others.
	Ratio float64
}

// Keyvals are the pairs that state s in a log line: sampler=<name> and,
// for a ratio sampler, ratio=<share>; none for the zero Sampling (tracing
// off).
func (s Sampling) Keyvals() []any {
	switch s.Sampler {
	case "":
		return nil
	case SamplerTraceIDRatio, SamplerParentBasedTraceIDRatio:
		return []any{"sampler", s.Sampler, "ratio", s.Ratio}
	}
	return []any{"sampler", s.Sampler}
}

// parentBased reports whether s follows the sampled flag of a span's
// parent: the child of an unsampled parent is never recorded.
func (s Sampling) parentBased() bool { return strings.HasPrefix(s.Sampler, "parentbased_") }

// root is the SDK's sampler of s for the spans without a parent.
func (s Sampling) root() sdktrace.Sampler {
	switch s.Sampler {
	case SamplerAlwaysOn, SamplerParentBasedAlwaysOn:
		return sdktrace.AlwaysSample()
	case SamplerAlwaysOff, SamplerParentBasedAlwaysOff:
		return sdktrace.NeverSample()
	}
	return sdktrace.TraceIDRatioBased(s.Ratio)
}

// sampler is the SDK's sampler of s.
func (s Sampling) sampler() sdktrace.Sampler {
	if s.parentBased() {
		return sdktrace.ParentBased(s.root())
	}
	return s.root()
}

// resolveSampling returns the sampler in force for the ratio of -trace-ratio
// and the environment: OTEL_TRACES_SAMPLER (and OTEL_TRACES_SAMPLER_ARG)
// when set, read as the OpenTelemetry Go SDK reads them, else
// parentbased_traceidratio at ratio. Like the SDK, it falls back on a bad
// value (a ratio of 1 for a bad argument, parentbased_always_on for an
// unknown sampler) and says why in err; the Sampling is in force either way.
func resolveSampling(ratio float64) (Sampling, error) {
	name := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
	switch name {
	case "":
		return Sampling{Sampler: SamplerParentBasedTraceIDRatio, Ratio: ratio}, nil
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff:
		return Sampling{Sampler: name}, nil
	case SamplerTraceIDRatio, SamplerParentBasedTraceIDRatio:
		if arg == "" {
			return Sampling{Sampler: name, Ratio: 1}, nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err == nil && (v < 0 || v > 1) {
			err = errors.New("want 0 to 1")
		}
		if err != nil {
			return Sampling{Sampler: name, Ratio: 1}, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER_ARG %q: %w; sampling every new trace", arg, err)
		}
		return Sampling{Sampler: name, Ratio: v}, nil
	}
	return Sampling{Sampler: SamplerParentBasedAlwaysOn}, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER %q: unknown sampler; using %s", name, SamplerParentBasedAlwaysOn)
}

// roots is how the provider Setup installed samples the spans without a
// parent, so that HTTPHandler can drop one without starting it; nil when
// Setup installed none.
var roots atomic.Pointer[rootSampling]

// rootSampling lets a server span without a parent skip the SDK when the
// sampler drops it. The SDK's Start of a dropped span costs several
// lookups of the context, the sampler's two, and the span's options; the
// drop is decided by the trace id alone, so this draws the ids as the SDK
// would, asks the same root sampler, and, when it drops them, puts a bare
// span context on the request: what the SDK's non-recording span carries,
// for the logs' trace_id and the traceparent of the calls that follow.
// A trace it keeps starts in the SDK with the ids drawn (see idGenerator),
// so both make the same decision on the same trace id.
type rootSampling struct {
	tp       *sdktrace.TracerProvider
	tracer   trace.Tracer // tp's, of this package
	root     sdktrace.Sampler
	always   bool // root records every span
	sampling Sampling
}

func newRootSampling(tp *sdktrace.TracerProvider, s Sampling) *rootSampling {
	var always bool
	switch s.Sampler {
	case SamplerAlwaysOn, SamplerParentBasedAlwaysOn:
		always = true
	case SamplerTraceIDRatio, SamplerParentBasedTraceIDRatio:
		always = s.Ratio >= 1
	}
	return &rootSampling{tp: tp, tracer: tp.Tracer(InstrumentationName), root: s.root(), always: always, sampling: s}
}

// activeRoots returns the root sampling of tp, the global provider, nil
// unless it is the one Setup installed.
func activeRoots(tp trace.TracerProvider) *rootSampling {
	if r := roots.Load(); r != nil && trace.TracerProvider(r.tp) == tp {
		return r
	}
	return nil
}

// start starts a span without a parent, as r.tracer.Start(ctx, name,
// opts...) would.
func (r *rootSampling) start(ctx context.Context, name string, kind trace.SpanKind, opts []trace.SpanStartOption) (context.Context, trace.Span) {
	if r.always {
		return r.tracer.Start(ctx, name, opts...) // nothing to drop
	}
	tid, sid := randomIDs()
	res := r.root.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: tid, Name: name, Kind: kind})
	if res.Decision == sdktrace.Drop {
		ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
		return ctx, trace.SpanFromContext(ctx)
	}
	return r.tracer.Start(context.WithValue(ctx, presetKey{}, &presetIDs{trace: tid, span: sid}), name, opts...)
}

// idGenerator is the SDK's random id generator, except that the first new
// trace started with presetIDs on its context takes them.
type idGenerator struct{}

var _ sdktrace.IDGenerator = idGenerator{}

type presetKey struct{}

// presetIDs are the ids rootSampling drew for a trace it keeps. They are
// taken once: a new root started later from the same context gets ids of
// its own.
type presetIDs struct {
	trace trace.TraceID
	span  trace.SpanID
	taken atomic.Bool
}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p, ok := ctx.Value(presetKey{}).(*presetIDs); ok && p.taken.CompareAndSwap(false, true) {
		return p.trace, p.span
	}
	return randomIDs()
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return randomSpanID() }

// randomIDs draws a non-zero trace id and span id, as the SDK's default
// generator does.
func randomIDs() (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, randomSpanID()
}

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}
