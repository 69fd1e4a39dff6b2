// Package tracing sets up OpenTelemetry tracing for a kitshop process and
// instruments the hops a request crosses: HTTP servers and clients, gRPC
// servers and clients, go-kit endpoints, SQL through pgx, and events from
// the outbox relay to a consumer.
//
// Setup builds the process's TracerProvider from a Config (flags, see
// Flags) and the standard OpenTelemetry environment:
//
//   - OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
//     exports over OTLP, gRPC or http/protobuf as OTEL_EXPORTER_OTLP_PROTOCOL
//     says; the exporters read their other OTEL_EXPORTER_OTLP_* settings;
//   - Config.Dir writes the spans as JSON lines to <Dir>/<instance>.jsonl
//     (package tracefile reads them back), for a stack without a collector;
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, when set, replace
//     the sampler of Config.Ratio (parent-based, trace-id ratio), read as
//     the Go SDK reads them; Provider.Sampling says which is in force, for
//     the line a process logs when tracing starts;
//   - OTEL_SDK_DISABLED=true, or no exporter at all, turns tracing off: the
//     instruments step aside and cost nothing, and an incoming traceparent
//     goes no further than this process.
//
// Setup installs the provider and the W3C propagator (traceparent,
// tracestate, baggage) as OpenTelemetry's globals, which the instruments of
// this package and of go.opentelemetry.io/contrib use.
//
// A request is cheap when its trace is not recorded: HTTPHandler drops a
// new trace the sampler would drop without starting a span in the SDK,
// leaving only its span context (ids for the logs and the traceparent of
// the calls that follow), and, under a parent-based sampler, Transport and
// EndpointMiddleware start no span under an unsampled one.
//
// Spans carry no secrets: no header values, no query strings, no bodies, no
// SQL arguments. A failed span carries the error's kind (kit/errs) as
// "error.type".
//
// Event traces: events.New stores the producer's trace context in the
// envelope. The relay's "publish" span is a child of that context and puts
// its own in the message's traceparent header; a consumer's span is a child
// of the relay's span and links to the producer's, so one trace runs from
// the request that made the event to every consumer that handled it.
package tracing
