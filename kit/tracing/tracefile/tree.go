package tracefile

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Node is a span with the spans whose parent it is, in start order.
type Node struct {
	Span
	Children []*Node `json:"children,omitempty"`
}

// Tree arranges spans by parent. The roots are the spans whose parent is
// not among them: the trace's first span, and any span whose parent was
// not recorded (a process without a trace file, say), in start order.
func Tree(spans []Span) []*Node {
	nodes := make(map[string]*Node, len(spans))
	ordered := slices.Clone(spans)
	slices.SortStableFunc(ordered, func(a, b Span) int { return a.Start.Compare(b.Start) })
	all := make([]*Node, 0, len(ordered))
	for _, s := range ordered {
		n := &Node{Span: s}
		nodes[s.SpanID] = n
		all = append(all, n)
	}
	var roots []*Node
	for _, n := range all {
		if p, ok := nodes[n.ParentID]; ok && n.ParentID != "" && p != n {
			p.Children = append(p.Children, n)
			continue
		}
		roots = append(roots, n)
	}
	return roots
}

// WriteText renders the trace as an indented tree, one span a line: its
// service, name, duration, start offset from the trace's first span and,
// for a failed span, its error.
func WriteText(w io.Writer, spans []Span) error {
	if len(spans) == 0 {
		_, err := fmt.Fprintln(w, "no spans")
		return err
	}
	roots := Tree(spans)
	first, last := spans[0].Start, spans[0].End
	services := map[string]bool{}
	for _, s := range spans {
		if s.Start.Before(first) {
			first = s.Start
		}
		if s.End.After(last) {
			last = s.End
		}
		services[s.Service] = true
	}
	tw := &textWriter{w: w, origin: first}
	tw.printf("trace %s: %d spans, %d services, %s\n", spans[0].TraceID, len(spans), len(services), round(last.Sub(first)))
	for i, r := range roots {
		tw.node(r, "", i == len(roots)-1)
	}
	return tw.err
}

type textWriter struct {
	w      io.Writer
	origin time.Time
	err    error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *textWriter) node(n *Node, indent string, last bool) {
	branch, more := "├─ ", "│  "
	if last {
		branch, more = "└─ ", "   "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s%s %s  %s  +%s", indent, branch, n.Service, n.Name, round(n.Duration()), round(n.Start.Sub(t.origin)))
	if n.Status == "error" {
		b.WriteString("  ERROR")
		if kind, ok := n.Attributes["error.type"].(string); ok && kind != "" {
			b.WriteString(" " + kind)
		}
		if n.Message != "" {
			b.WriteString(": " + n.Message)
		}
	}
	for _, l := range n.Links {
		b.WriteString("  ↪ " + l.SpanID)
	}
	t.printf("%s\n", b.String())
	for i, c := range n.Children {
		t.node(c, indent+more, i == len(n.Children)-1)
	}
}

// round keeps durations readable: microseconds below a second.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// WriteJSON writes the trace as JSON: {"trace_id", "spans", "roots"},
// roots being the tree of Tree.
func WriteJSON(w io.Writer, spans []Span) error {
	id := ""
	if len(spans) > 0 {
		id = spans[0].TraceID
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		TraceID string  `json:"trace_id"`
		Spans   int     `json:"spans"`
		Roots   []*Node `json:"roots"`
	}{id, len(spans), Tree(spans)})
}

// Show loads traceID from dir and writes it to w as format, "text" (the
// tree of WriteText) or "json" (WriteJSON): the whole of a "trace <id>"
// command.
func Show(w io.Writer, dir, traceID, format string) error {
	if format != "text" && format != "json" {
		return fmt.Errorf("tracefile: output %q: want text or json", format)
	}
	spans, err := Load(dir, traceID)
	if err != nil {
		return err
	}
	if format == "json" {
		return WriteJSON(w, spans)
	}
	return WriteText(w, spans)
}
