package tracefile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

const (
	traceA = "0af7651916cd43dd8448eb211c80319c"
	traceB = "4bf92f3577b34da6a3ce929d0e0e4736"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func span(trace, id, parent, service, name string, startMs, durMs int) tracefile.Span {
	start := t0.Add(time.Duration(startMs) * time.Millisecond)
	return tracefile.Span{
		TraceID: trace, SpanID: id, ParentID: parent, Service: service, Name: name, Kind: "Internal",
		Start: start, End: start.Add(time.Duration(durMs) * time.Millisecond),
	}
}

// writeFile writes spans as a trace file, plus extra raw lines.
func writeFile(t *testing.T, path string, spans []tracefile.Span, extra ...string) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, s := range spans {
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gateway.jsonl"), []tracefile.Span{
		span(traceA, "a000000000000001", "", "gateway", "HTTP POST", 0, 50),
		span(traceB, "b000000000000001", "", "gateway", "HTTP GET", 0, 5),
	}, `{"trace_id":"`+traceA+`","span_id":`, "not json at all")
	writeFile(t, filepath.Join(dir, "order-1.jsonl.1"), []tracefile.Span{
		span(traceA, "a000000000000002", "a000000000000001", "order", "POST /api/v1/orders", 2, 40),
	})
	writeFile(t, filepath.Join(dir, "order-1.jsonl"), []tracefile.Span{
		span(traceA, "a000000000000003", "a000000000000002", "order", "order.CreateOrder", 1, 30),
	})
	writeFile(t, filepath.Join(dir, "ignored.txt"), []tracefile.Span{
		span(traceA, "a000000000000009", "", "other", "not a trace file", 0, 1),
	})

	tests := []struct {
		name    string
		id      string
		wantIDs []string
		wantErr error
	}{
		{"every file, rotated ones too, in start order", traceA, []string{"a000000000000001", "a000000000000003", "a000000000000002"}, nil},
		{"upper case id", strings.ToUpper(traceB), []string{"b000000000000001"}, nil},
		{"unknown trace", "11111111111111111111111111111111", nil, tracefile.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracefile.Load(dir, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.SpanID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("span ids = %v, want %v", ids, tt.wantIDs)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct{ name, dir, id string }{
		{"short id", t.TempDir(), "abc"},
		{"all-zero id", t.TempDir(), strings.Repeat("0", 32)},
		{"not hex", t.TempDir(), strings.Repeat("g", 32)},
		{"missing dir", filepath.Join(t.TempDir(), "nope"), traceA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tracefile.Load(tt.dir, tt.id); err == nil || errors.Is(err, tracefile.ErrNotFound) {
				t.Errorf("Load(%q) = %v, want an error other than not found", tt.id, err)
			}
		})
	}
}

func TestLoadLongLine(t *testing.T) {
	dir := t.TempDir()
	long := span(traceA, "a000000000000001", "", "gateway", "long", 0, 1)
	long.Attributes = map[string]any{"db.query.text": strings.Repeat("x", 200<<10)}
	writeFile(t, filepath.Join(dir, "g.jsonl"), []tracefile.Span{long, span(traceA, "a000000000000002", "a000000000000001", "gateway", "after", 1, 1)})
	got, err := tracefile.Load(dir, traceA)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d spans, want 2 (a line longer than the read buffer, and the one after)", len(got))
	}
}

func trace() []tracefile.Span {
	gw := span(traceA, "a000000000000001", "ffffffffffffffff", "gateway", "HTTP POST", 0, 50)
	order := span(traceA, "a000000000000002", gw.SpanID, "order", "POST /api/v1/orders", 2, 40)
	ep := span(traceA, "a000000000000003", order.SpanID, "order", "order.CreateOrder", 3, 30)
	ep.Status, ep.Message = "error", "service temporarily unavailable"
	ep.Attributes = map[string]any{"error.type": "unavailable"}
	sql := span(traceA, "a000000000000004", ep.SpanID, "order", "SQL INSERT", 4, 2)
	relay := span(traceA, "a000000000000005", ep.SpanID, "order", "publish kitshop.order.v1.confirmed", 60, 1)
	consumer := span(traceA, "a000000000000006", relay.SpanID, "payment", "process kitshop.order.v1.confirmed", 62, 3)
	consumer.Links = []tracefile.Link{{TraceID: traceA, SpanID: ep.SpanID}}
	return []tracefile.Span{consumer, sql, gw, relay, order, ep}
}

func TestTree(t *testing.T) {
	roots := tracefile.Tree(trace())
	if len(roots) != 1 || roots[0].SpanID != "a000000000000001" {
		t.Fatalf("roots = %v, want the gateway's span alone (its parent is not recorded)", roots)
	}
	ep := roots[0].Children[0].Children[0]
	var names []string
	for _, c := range ep.Children {
		names = append(names, c.Name)
	}
	if want := "SQL INSERT,publish kitshop.order.v1.confirmed"; strings.Join(names, ",") != want {
		t.Errorf("children of the endpoint = %v, want %s in start order", names, want)
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := tracefile.WriteText(&b, trace()); err != nil {
		t.Fatal(err)
	}
	want := `trace 0af7651916cd43dd8448eb211c80319c: 6 spans, 3 services, 65ms
└─ gateway HTTP POST  50ms  +0s
   └─ order POST /api/v1/orders  40ms  +2ms
      └─ order order.CreateOrder  30ms  +3ms  ERROR unavailable: service temporarily unavailable
         ├─ order SQL INSERT  2ms  +4ms
         └─ order publish kitshop.order.v1.confirmed  1ms  +60ms
            └─ payment process kitshop.order.v1.confirmed  3ms  +62ms  ↪ a000000000000003
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := tracefile.WriteJSON(&b, trace()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		TraceID string            `json:"trace_id"`
		Spans   int               `json:"spans"`
		Roots   []*tracefile.Node `json:"roots"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.TraceID != traceA || got.Spans != 6 || len(got.Roots) != 1 {
		t.Fatalf("got trace %s, %d spans, %d roots; want %s, 6, 1", got.TraceID, got.Spans, len(got.Roots), traceA)
	}
	if c := got.Roots[0].Children[0].Children[0].Children; len(c) != 2 || len(c[1].Children) != 1 {
		t.Errorf("the endpoint's subtree did not survive the round trip: %+v", c)
	}
}

func TestWriteTextEmpty(t *testing.T) {
	var b strings.Builder
	if err := tracefile.WriteText(&b, nil); err != nil || b.String() != "no spans\n" {
		t.Errorf("got %q, %v", b.String(), err)
	}
}

func TestShow(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gateway.jsonl"), trace())
	tests := []struct {
		name, id, format string
		want             string // a substring of the output
		wantErr          bool
	}{
		{"text", traceA, "text", "└─ gateway HTTP POST", false},
		{"json", traceA, "json", `"trace_id": "` + traceA + `"`, false},
		{"unknown format", traceA, "yaml", "", true},
		{"unknown trace", traceB, "text", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			err := tracefile.Show(&b, dir, tt.id, tt.format)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("output has no %q:\n%s", tt.want, b.String())
			}
		})
	}
}
