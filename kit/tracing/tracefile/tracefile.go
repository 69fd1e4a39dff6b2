package tracefile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Ext is the extension of a trace file; a rotated file adds ".1".
const Ext = ".jsonl"

// Span is one finished span, one JSON line of a trace file.
type Span struct {
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	// Service and Instance are the process that recorded the span.
	Service  string    `json:"service"`
	Instance string    `json:"instance,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// Status is "error" for a failed span, "" otherwise; Message is the
	// status description.
	Status     string         `json:"status,omitempty"`
	Message    string         `json:"message,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Links      []Link         `json:"links,omitempty"`
}

// Link points to a span of the same or another trace.
type Link struct {
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

// Duration is how long the span took.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// ErrNotFound is returned by Load when no file holds a span of the trace.
var ErrNotFound = errors.New("tracefile: trace not found")

// ValidID reports whether id is a W3C trace id: 32 lower-case hex digits,
// not all zero.
func ValidID(id string) bool {
	if len(id) != 32 || strings.Trim(id, "0") == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Load returns the spans of traceID found in dir's trace files (rotated
// ones included), in start order. A line that is not a span (a file cut
// short by a crash) is skipped. It returns ErrNotFound when there are
// none.
func Load(dir, traceID string) ([]Span, error) {
	traceID = strings.ToLower(traceID)
	if !ValidID(traceID) {
		return nil, fmt.Errorf("tracefile: trace id %q: want 32 hex digits", traceID)
	}
	files, err := traceFiles(dir)
	if err != nil {
		return nil, err
	}
	// A cheap test per line before decoding it: the id as it appears in
	// the JSON.
	needle := []byte(`"trace_id":"` + traceID + `"`)
	var spans []Span
	for _, path := range files {
		if err := scan(path, func(line []byte) {
			if !bytes.Contains(line, needle) {
				return
			}
			var s Span
			if json.Unmarshal(line, &s) == nil && s.TraceID == traceID {
				spans = append(spans, s)
			}
		}); err != nil {
			return nil, err
		}
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, traceID, dir)
	}
	slices.SortStableFunc(spans, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return spans, nil
}

func traceFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tracefile: %w", err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, Ext) || strings.HasSuffix(n, Ext+".1")) {
			files = append(files, filepath.Join(dir, n))
		}
	}
	return files, nil
}

// maxLine bounds one span's line; longer ones are skipped.
const maxLine = 1 << 20

func scan(path string, line func([]byte)) error {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil // rotated away between the listing and now
		}
		return fmt.Errorf("tracefile: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		b, err := r.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it, up to maxLine.
			long := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLine {
				b, err = r.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
			if len(long) > maxLine {
				b = nil
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = r.ReadSlice('\n')
				}
			}
		}
		if len(b) > 0 {
			line(b)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tracefile: %w", err)
		}
	}
}
