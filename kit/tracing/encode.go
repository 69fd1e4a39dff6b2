package tracing

import (
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitshop/kitshop/internal/jsonstr"
)

// appendSpan appends s as one JSON line in the form of tracefile.Span.
// It writes what encoding/json would write for Record(s), without its
// reflection and without building the record: a file exporter recording
// every request spends most of its time here.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	b = append(b, `{"trace_id":"`...)
	b = append(b, sc.TraceID().String()...)
	b = append(b, `","span_id":"`...)
	b = append(b, sc.SpanID().String()...)
	b = append(b, '"')
	if p := s.Parent(); p.IsValid() {
		b = append(b, `,"parent_id":"`...)
		b = append(b, p.SpanID().String()...)
		b = append(b, '"')
	}
	b = append(b, `,"name":`...)
	b = appendString(b, s.Name())
	b = append(b, `,"kind":`...)
	b = appendString(b, s.SpanKind().String())
	var service, instance string
	for _, kv := range s.Resource().Attributes() {
		switch kv.Key {
		case "service.name":
			service = kv.Value.AsString()
		case "service.instance.id":
			instance = kv.Value.AsString()
		}
	}
	b = append(b, `,"service":`...)
	b = appendString(b, service)
	if instance != "" {
		b = append(b, `,"instance":`...)
		b = appendString(b, instance)
	}
	b = append(b, `,"start":"`...)
	b = s.StartTime().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","end":"`...)
	b = s.EndTime().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if st := s.Status(); st.Code == codes.Error {
		b = append(b, `,"status":"error"`...)
		if st.Description != "" {
			b = append(b, `,"message":`...)
			b = appendString(b, st.Description)
		}
	}
	if attrs := s.Attributes(); len(attrs) > 0 {
		b = append(b, `,"attributes":{`...)
		for i, kv := range attrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, string(kv.Key))
			b = append(b, ':')
			b = appendValue(b, kv.Value)
		}
		b = append(b, '}')
	}
	if links := s.Links(); len(links) > 0 {
		b = append(b, `,"links":[`...)
		for i, l := range links {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"trace_id":"`...)
			b = append(b, l.SpanContext.TraceID().String()...)
			b = append(b, `","span_id":"`...)
			b = append(b, l.SpanContext.SpanID().String()...)
			b = append(b, `"}`...)
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}

func appendValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.BOOL:
		return strconv.AppendBool(b, v.AsBool())
	case attribute.INT64:
		return strconv.AppendInt(b, v.AsInt64(), 10)
	case attribute.FLOAT64:
		return strconv.AppendFloat(b, v.AsFloat64(), 'g', -1, 64)
	case attribute.STRING:
		return appendString(b, v.AsString())
	}
	// Slices, rare here: as their string form.
	return appendString(b, v.Emit())
}

// appendString appends s as a JSON string, escaped as encoding/json does
// (HTML characters aside).
func appendString(b []byte, s string) []byte { return jsonstr.Append(b, s, false) }
