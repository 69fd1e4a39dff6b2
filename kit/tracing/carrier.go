package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// headerCarrier is propagation.HeaderCarrier without the canonicalisation
// of the propagators' keys on every call: the W3C keys are looked up in
// their canonical form directly, others as http.Header does.
type headerCarrier http.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

// canonical are the W3C keys in net/http's canonical form.
func canonical(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	}
	return http.CanonicalHeaderKey(key)
}

func (c headerCarrier) Get(key string) string {
	if vs := c[canonical(key)]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[canonical(key)] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
