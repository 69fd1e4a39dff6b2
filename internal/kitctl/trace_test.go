package kitctl_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

func TestTrace(t *testing.T) {
	dir := t.TempDir()
	const id = "0af7651916cd43dd8448eb211c80319c"
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var lines []byte
	for _, s := range []tracefile.Span{
		{TraceID: id, SpanID: "b7ad6b7169203331", Service: "gateway", Name: "GET /api/v1/orders", Kind: "server", Start: start, End: start.Add(12 * time.Millisecond)},
		{TraceID: id, SpanID: "00f067aa0ba902b7", ParentID: "b7ad6b7169203331", Service: "order", Name: "order.ListOrders", Kind: "internal",
			Start: start.Add(2 * time.Millisecond), End: start.Add(9 * time.Millisecond), Status: "error", Message: "service temporarily unavailable",
			Attributes: map[string]any{"error.type": "unavailable"}},
	} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(append(lines, b...), '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway.jsonl"), lines, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KITCTL_TRACE_DIR": dir}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"tree", []string{"trace", id}, 0, "└─ order order.ListOrders  7ms  +2ms  ERROR unavailable: service temporarily unavailable", ""},
		{"json", []string{"-o", "json", "trace", id}, 0, `"span_id": "00f067aa0ba902b7"`, ""},
		{"unknown trace", []string{"trace", "11111111111111111111111111111111"}, 1, "", "kitctl: not_found: no span of trace"},
		{"bad id", []string{"trace", "nope"}, 1, "", "kitctl: invalid: trace id"},
		{"other dir", []string{"trace", "--dir", filepath.Join(dir, "none"), id}, 1, "", "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, env, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("kitctl %s = %d\nstdout %q\nstderr %q\nwant %d, stdout with %q, stderr with %q",
					strings.Join(tt.args, " "), code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}
