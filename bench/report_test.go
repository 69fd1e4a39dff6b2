package bench_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/bench"
)

func TestFormatCount(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{999.4, "999"},
		{999.5, "1,000"},
		{12345.67, "12,346"},
		{1234567, "1,234,567"},
		{-4321, "-4,321"},
	}
	for _, tt := range tests {
		if got := bench.FormatCount(tt.in); got != tt.want {
			t.Errorf("FormatCount(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatRatio(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{1, "1.00×"},
		{0.4234, "0.42×"},
		{0.0534, "0.053×"},
		{1.5, "1.50×"},
	}
	for _, tt := range tests {
		if got := bench.FormatRatio(tt.in); got != tt.want {
			t.Errorf("FormatRatio(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMillisString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{850 * time.Microsecond, "850 µs"},
		{85 * time.Microsecond, "85.0 µs"},
		{2310 * time.Microsecond, "2.31 ms"},
		{12440 * time.Microsecond, "12.4 ms"},
		{106 * time.Millisecond, "106 ms"},
		{1500 * time.Millisecond, "1.50 s"},
	}
	for _, tt := range tests {
		if got := bench.Ms(tt.in).String(); got != tt.want {
			t.Errorf("Ms(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		rounds []bench.Measurement
		want   bench.Measurement
	}{
		{"none", nil, bench.Measurement{}},
		{
			name: "odd: the middle round of each figure",
			rounds: []bench.Measurement{
				{RPS: 100, P50: 3, P99: 30, Errors: 1, Requests: 1000},
				{RPS: 300, P50: 1, P99: 10, Requests: 3000},
				{RPS: 200, P50: 2, P99: 90, Errors: 2, Requests: 2000},
			},
			want: bench.Measurement{RPS: 200, P50: 2, P99: 30, Errors: 3, Requests: 6000},
		},
		{
			name: "even: the mean of the middle two",
			rounds: []bench.Measurement{
				{RPS: 100, P50: 1, P99: 10},
				{RPS: 200, P50: 3, P99: 20},
			},
			want: bench.Measurement{RPS: 150, P50: 2, P99: 15},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bench.Summarize(tt.rounds); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// sampleReport has a baseline, a slower row, one not measured and a gRPC
// row, like a real run's.
func sampleReport() *bench.Report {
	return &bench.Report{
		Date:     time.Date(2026, 11, 21, 6, 7, 0, 0, time.UTC),
		Machine:  bench.Machine{NProc: 2, CPU: "AMD EPYC", GoVersion: "go1.26.8", LoadAvg: "1.50"},
		Settings: bench.Settings{Stack: "test", Duration: "10s", Rounds: 2, Threads: 2, Connections: 32, GRPCWorkers: 32},
		Rows: []bench.Row{
			{Key: "bare", Target: "bare handler", Baseline: true, Rounds: []bench.Measurement{
				{RPS: 10000, P50: 2, P99: 10}, {RPS: 12000, P50: 2.2, P99: 12},
			}},
			{Key: "gateway-get", Target: "gateway: GET", Rounds: []bench.Measurement{
				{RPS: 4000, P50: 6, P99: 40, Errors: 3}, {RPS: 5000, P50: 5, P99: 50},
			}, Notes: []string{"a failing request answered: 503 Service Unavailable"}},
			{Key: "order", Target: "gateway: POST /api/v1/orders", NA: "order service not available"},
			{Key: "grpc", Target: "product gRPC | GetProduct", Rounds: []bench.Measurement{{RPS: 550, P50: 0.8, P99: 3}}},
		},
		HalfRate: &bench.HalfRate{Target: "gateway: GET", Fraction: 0.5, OfferedRPS: 2250, Duration: "10s",
			Result: bench.Measurement{RPS: 2249.6, P50: 1.47, P99: 22.3}},
		Memory: []bench.ProcessMemory{{Name: "gateway", PID: 42, IdleKiB: 16896, AfterKiB: 24883, IdleAnonKiB: 5120, AfterAnonKiB: 12800}},
	}
}

func TestReportFinishAndTable(t *testing.T) {
	rep := sampleReport()
	rep.Finish()

	// gateway-get had failed requests: no ratio.
	wantRatios := map[string]float64{"bare": 1, "gateway-get": 0, "order": 0, "grpc": 0.05}
	for key, want := range wantRatios {
		row, ok := rep.Row(key)
		if !ok {
			t.Fatalf("row %s missing", key)
		}
		if diff := row.Ratio - want; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s ratio = %v, want %v", key, row.Ratio, want)
		}
	}

	got := rep.Table()
	want := [][]string{
		{"bare handler", "11,000", "2.10 ms", "11.0 ms", "0", "1.00×", "10,000–12,000"},
		{"gateway: GET", "4,500", "5.50 ms", "45.0 ms", "3", "FAILED", "4,000–5,000"},
		{"gateway: POST /api/v1/orders", "n/a (order service not available)"},
		{"product gRPC | GetProduct", "550", "800 µs", "3.00 ms", "0", "0.050×", "550–550"},
	}
	if len(got) != len(want) {
		t.Fatalf("Table has %d rows, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if strings.Join(got[i], "\t") != strings.Join(want[i], "\t") {
			t.Errorf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestTextTable(t *testing.T) {
	got := bench.TextTable([]string{"target", "req/s", "p99"}, [][]string{
		{"bare", "12,000", "1.00 ms"},
		{"gateway", "800", "12.0 ms"},
		{"orders", "n/a (order service not available)"},
	})
	want := "" +
		"target    req/s      p99\n" +
		"-------  ------  -------\n" +
		"bare     12,000  1.00 ms\n" +
		"gateway     800  12.0 ms\n" +
		"orders   n/a (order service not available)\n"
	if got != want {
		t.Errorf("TextTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestMarkdownTable(t *testing.T) {
	got := bench.MarkdownTable([]string{"target", "req/s", "p99"}, [][]string{
		{"a | b", "1", "2 ms"},
		{"orders", "n/a"},
	})
	want := "" +
		"| target | req/s | p99 |\n" +
		"| --- | ---: | ---: |\n" +
		"| a \\| b | 1 | 2 ms |\n" +
		"| orders | n/a |  |\n"
	if got != want {
		t.Errorf("MarkdownTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestReportMarkdownAndJSON(t *testing.T) {
	rep := sampleReport()
	rep.Finish()
	md := rep.Markdown()
	for _, want := range []string{
		"- date: 2026-11-21 06:07 UTC",
		"- machine: 2 CPUs (nproc), AMD EPYC; load average at start 1.50",
		"- Go: go1.26.8",
		"2 rounds × 10s per target",
		"| gateway: GET | 4,500 | 5.50 ms | 45.0 ms | 3 | FAILED | 4,000–5,000 |",
		"| gateway: POST /api/v1/orders | n/a (order service not available) |",
		"- gateway: GET: a failing request answered: 503 Service Unavailable",
		"open loop (2,250 req/s offered for 10s): 2,250 req/s, p50 1.47 ms, p99 22.3 ms, errors 0",
		"| gateway | 42 | 16.5 MiB | 5.0 MiB | 24.3 MiB | 12.5 MiB |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}

	raw, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Targets []struct {
			Key     string  `json:"key"`
			NA      string  `json:"not_available"`
			Ratio   float64 `json:"ratio_to_bare"`
			Summary struct {
				RPS float64 `json:"requests_per_sec"`
				P99 float64 `json:"p99_ms"`
			} `json:"summary"`
		} `json:"targets"`
		Machine struct {
			NProc int `json:"nproc"`
		} `json:"machine"`
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, raw)
	}
	if back.Machine.NProc != 2 || len(back.Targets) != 4 {
		t.Fatalf("JSON = %s", raw)
	}
	if got := back.Targets[1]; got.Key != "gateway-get" || got.Summary.RPS != 4500 || got.Summary.P99 != 45 {
		t.Errorf("gateway row in JSON = %+v", got)
	}
	if got := back.Targets[2]; got.NA != "order service not available" {
		t.Errorf("order row in JSON = %+v", got)
	}
}
