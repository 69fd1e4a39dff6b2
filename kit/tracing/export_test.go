package tracing

import sdktrace "go.opentelemetry.io/otel/sdk/trace"

// AppendSpan exports appendSpan to the tests.
var AppendSpan = appendSpan

// RegisterSpanProcessor adds sp to the provider Setup built, for the tests
// to see the spans it records.
func RegisterSpanProcessor(p *Provider, sp sdktrace.SpanProcessor) { p.sdk.RegisterSpanProcessor(sp) }
