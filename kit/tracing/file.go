package tracing

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

// DefaultMaxFileSize is the size at which a trace file is rotated: the
// file becomes <name>.jsonl.1 (replacing the one before) and a new one
// starts, so a long-running local stack keeps at most twice this per
// process.
const DefaultMaxFileSize = 64 << 20

// FileExporter writes spans as JSON lines (tracefile.Span) to
// <dir>/<name>.jsonl.
type FileExporter struct {
	mu      sync.Mutex
	path    string
	max     int64
	f       *os.File
	size    int64
	stopped bool
	buf     []byte // a batch's lines, kept between batches
}

// NewFileExporter creates dir if needed and opens <dir>/<name>.jsonl for
// appending. maxSize <= 0 means DefaultMaxFileSize.
func NewFileExporter(dir, name string, maxSize int64) (*FileExporter, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxFileSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tracing: trace dir: %w", err)
	}
	e := &FileExporter{path: filepath.Join(dir, name+tracefile.Ext), max: maxSize}
	if err := e.open(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *FileExporter) open() error {
	f, err := os.OpenFile(e.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("tracing: trace file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("tracing: trace file: %w", err)
	}
	e.f, e.size = f, st.Size()
	return nil
}

// Path is the file the exporter writes.
func (e *FileExporter) Path() string { return e.path }

// ExportSpans writes one line per span, in one write per batch.
func (e *FileExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	if e.size >= e.max {
		if err := e.rotate(); err != nil {
			return err
		}
	}
	b := e.buf[:0]
	for _, s := range spans {
		b = appendSpan(b, s)
	}
	e.buf = b
	n, err := e.f.Write(b)
	e.size += int64(n)
	if err != nil {
		return fmt.Errorf("tracing: write spans: %w", err)
	}
	return nil
}

func (e *FileExporter) rotate() error {
	e.f.Close()
	if err := os.Rename(e.path, e.path+".1"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("tracing: rotate trace file: %w", err)
	}
	return e.open()
}

// Shutdown closes the file.
func (e *FileExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	e.stopped = true
	return e.f.Close()
}

// Record is the tracefile form of a finished span (what the exporter
// writes, as a value).
func Record(s sdktrace.ReadOnlySpan) tracefile.Span {
	sc := s.SpanContext()
	r := tracefile.Span{
		TraceID: sc.TraceID().String(),
		SpanID:  sc.SpanID().String(),
		Name:    s.Name(),
		Kind:    s.SpanKind().String(),
		Start:   s.StartTime(),
		End:     s.EndTime(),
	}
	if p := s.Parent(); p.IsValid() {
		r.ParentID = p.SpanID().String()
	}
	for _, kv := range s.Resource().Attributes() {
		switch kv.Key {
		case "service.name":
			r.Service = kv.Value.AsString()
		case "service.instance.id":
			r.Instance = kv.Value.AsString()
		}
	}
	if st := s.Status(); st.Code == codes.Error {
		r.Status, r.Message = "error", st.Description
	}
	if attrs := s.Attributes(); len(attrs) > 0 {
		r.Attributes = make(map[string]any, len(attrs))
		for _, kv := range attrs {
			r.Attributes[string(kv.Key)] = attributeValue(kv.Value)
		}
	}
	for _, l := range s.Links() {
		r.Links = append(r.Links, tracefile.Link{TraceID: l.SpanContext.TraceID().String(), SpanID: l.SpanContext.SpanID().String()})
	}
	return r
}

// attributeValue is a scalar as itself, a slice as its string form.
func attributeValue(v attribute.Value) any {
	switch v.Type() {
	case attribute.BOOL, attribute.INT64, attribute.FLOAT64, attribute.STRING:
		return v.AsInterface()
	}
	return v.Emit()
}

var _ sdktrace.SpanExporter = (*FileExporter)(nil)
