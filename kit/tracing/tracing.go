package tracing

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-kit/log"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultRatio is the share of new traces recorded when nothing else says:
// one request in ten. A request that arrives with a sampled traceparent is
// always recorded (the sampler is parent-based).
const DefaultRatio = 0.1

// InstrumentationName names this package's tracers.
const InstrumentationName = "github.com/kitshop/kitshop/kit/tracing"

// Config is how a process traces.
type Config struct {
	// Service and Instance name the process in every span (service.name,
	// service.instance.id); Instance also names its trace file.
	Service, Instance string
	// Version is service.version, "" for none.
	Version string
	// Ratio is the share of new traces recorded (0 to 1), parent-based:
	// a request with a sampled parent is always recorded, one with an
	// unsampled parent never. OTEL_TRACES_SAMPLER replaces it.
	Ratio float64
	// Dir, when set, receives the spans as JSON lines, one file per
	// process (see package tracefile).
	Dir string
	// Logger receives OpenTelemetry's own errors (an exporter that cannot
	// reach its collector), one a minute at most; nil discards them.
	Logger log.Logger
}

// Flags registers -trace-ratio and -trace-dir on fs, into c.
func Flags(fs *flag.FlagSet, c *Config) {
	fs.Float64Var(&c.Ratio, "trace-ratio", DefaultRatio, "share of new traces recorded, 0 to 1 (parent-based: a sampled incoming traceparent is always followed); OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG replace it")
	fs.StringVar(&c.Dir, "trace-dir", "", `directory where spans are written as JSON lines (<instance>.jsonl), for "kitctl trace"; spans go over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; with neither, tracing is off`)
}

// Check reports a bad Config.
func (c Config) Check() error {
	if c.Ratio < 0 || c.Ratio > 1 {
		return fmt.Errorf("-trace-ratio %v: want 0 to 1", c.Ratio)
	}
	return nil
}

// Provider is a process's tracing, set up by Setup.
type Provider struct {
	sdk      *sdktrace.TracerProvider // nil when tracing is off
	sampling Sampling
	dir      string
}

// Keyvals are the pairs of the log line that says how the process traces:
// the sampler in force (Sampling.Keyvals) and the trace directory, if any.
func (p *Provider) Keyvals() []any {
	kv := p.Sampling().Keyvals()
	if p.Enabled() && p.dir != "" {
		kv = append(kv, "dir", p.dir)
	}
	return kv
}

// Sampling returns the sampler in force, the zero Sampling when tracing is
// off.
func (p *Provider) Sampling() Sampling {
	if !p.Enabled() {
		return Sampling{}
	}
	return p.sampling
}

// Enabled reports whether spans are recorded and exported.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// Shutdown exports the spans still buffered and stops the exporters.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// Propagator is the W3C trace context and baggage, what every hop speaks.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Setup builds the process's tracer provider from c and the OTEL_*
// environment (see the package documentation) and installs it, with the W3C
// propagator, as OpenTelemetry's globals. Without an exporter it installs a
// no-op provider, and the instruments step aside (Enabled). Call Shutdown on
// the way out.
func Setup(ctx context.Context, c Config) (*Provider, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	otel.SetTextMapPropagator(propagator)
	otel.SetErrorHandler(newErrorLog(c.Logger, time.Minute))
	var exporters []sdktrace.SpanExporter
	if otlpEnabled() {
		exp, err := otlpExporter(ctx)
		if err != nil {
			return nil, err
		}
		exporters = append(exporters, exp)
	}
	if c.Dir != "" {
		name := c.Instance
		if name == "" {
			name = c.Service
		}
		exp, err := NewFileExporter(c.Dir, name, 0)
		if err != nil {
			return nil, err
		}
		exporters = append(exporters, exp)
	}
	if len(exporters) == 0 || strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		for _, e := range exporters {
			_ = e.Shutdown(ctx)
		}
		roots.Store(nil)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return &Provider{}, nil
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", c.Service),
	}
	if c.Instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", c.Instance))
	}
	if c.Version != "" {
		attrs = append(attrs, attribute.String("service.version", c.Version))
	}
	// Schemaless, so it merges with any schema the default resource has.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler is resolved here, not left to the SDK, so that the
	// process can say which one is in force and HTTPHandler can drop a
	// new trace without starting its span.
	sampling, err := resolveSampling(c.Ratio)
	if err != nil {
		otel.Handle(err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampling.sampler()),
		sdktrace.WithIDGenerator(idGenerator{}),
	}
	for _, e := range exporters {
		// A second's batches: a span shows in a file or in Jaeger soon
		// after its request, at one write per second at most.
		opts = append(opts, sdktrace.WithBatcher(e, sdktrace.WithBatchTimeout(time.Second)))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	roots.Store(newRootSampling(tp, sampling))
	return &Provider{sdk: tp, sampling: sampling, dir: c.Dir}, nil
}

// Sampler is the parent-based trace-id ratio sampler of Config.Ratio.
func Sampler(ratio float64) sdktrace.Sampler {
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
}

// otlpEnabled reports whether an OTLP endpoint is configured.
func otlpEnabled() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// otlpExporter is the OTLP exporter of OTEL_EXPORTER_OTLP_PROTOCOL: "grpc"
// (the default of the specification's Go SDK) or "http/protobuf". The
// exporters read the endpoint, headers, timeout and TLS settings from the
// environment themselves.
func otlpExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch proto {
	case "", "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return exp, nil
}

// tracer is the tracer of this package's instruments, from the global
// provider at the time of the call, so Setup may run after they are built.
func tracer() trace.Tracer { return otel.Tracer(InstrumentationName) }

// Enabled reports whether the process records spans: Setup installed an
// exporting provider.
func Enabled() bool { return enabled(otel.GetTracerProvider()) }

// enabled reports whether tp, the global provider, records spans.
func enabled(tp trace.TracerProvider) bool {
	_, ok := tp.(*sdktrace.TracerProvider)
	return ok
}
