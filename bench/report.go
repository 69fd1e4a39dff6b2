package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Millis is a latency in milliseconds, the unit of the JSON report.
type Millis float64

// Ms converts d to Millis.
func Ms(d time.Duration) Millis { return Millis(float64(d) / float64(time.Millisecond)) }

// String formats m with three significant digits in µs, ms or s:
// "850 µs", "2.31 ms", "12.4 ms", "1.20 s".
func (m Millis) String() string {
	switch v := float64(m); {
	case v <= 0:
		return "0"
	case v < 1:
		return sig3(v*1000) + " µs"
	case v < 1000:
		return sig3(v) + " ms"
	default:
		return sig3(v/1000) + " s"
	}
}

// sig3 formats v (> 0) with three significant digits, without an exponent.
func sig3(v float64) string {
	switch {
	case v >= 99.95:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 9.995:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// Measurement is one target measured once, or the summary of its rounds.
type Measurement struct {
	RPS      float64 `json:"requests_per_sec"`
	P50      Millis  `json:"p50_ms"`
	P99      Millis  `json:"p99_ms"`
	Errors   int64   `json:"errors"`
	Requests int64   `json:"requests"`
}

// Summarize combines the rounds of one target: the median of each of
// requests/s, p50 and p99 (one slow round, say while something else used
// the machine, does not drag the figure), and the sums of errors and
// requests. Percentiles of separate runs cannot be merged exactly; the
// per-round values stay in the JSON report.
func Summarize(rounds []Measurement) Measurement {
	var s Measurement
	if len(rounds) == 0 {
		return s
	}
	rps := make([]float64, len(rounds))
	p50 := make([]float64, len(rounds))
	p99 := make([]float64, len(rounds))
	for i, m := range rounds {
		rps[i], p50[i], p99[i] = m.RPS, float64(m.P50), float64(m.P99)
		s.Errors += m.Errors
		s.Requests += m.Requests
	}
	s.RPS, s.P50, s.P99 = median(rps), Millis(median(p50)), Millis(median(p99))
	return s
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Row is one target of the table.
type Row struct {
	// Key is a short stable identifier ("bare", "gateway-get", …) for
	// scripts reading the JSON; Target is the human-readable name.
	Key    string `json:"key"`
	Target string `json:"target"`
	// Baseline marks the row the others are compared with.
	Baseline bool `json:"baseline,omitempty"`
	// NA says why the target was not measured; the row then has no
	// numbers.
	NA string `json:"not_available,omitempty"`
	// Rounds are the measurements in the order they were taken.
	Rounds []Measurement `json:"rounds,omitempty"`
	// Summary, RPSMin and RPSMax are filled by Report.Finish.
	Summary Measurement `json:"summary"`
	RPSMin  float64     `json:"rounds_min_requests_per_sec"`
	RPSMax  float64     `json:"rounds_max_requests_per_sec"`
	// Ratio is Summary.RPS over the baseline's; 0 when either is missing.
	Ratio float64 `json:"ratio_to_bare"`
	// Notes explain anything unusual (the status of failed requests).
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the numbers were taken.
type Machine struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go_version"`
	// LoadAvg is /proc/loadavg's 1-minute load when the run started: a
	// busy machine explains noisy numbers.
	LoadAvg string `json:"load_average_at_start"`
}

// Settings are the harness's knobs for the run.
type Settings struct {
	Stack       string `json:"stack"`
	Duration    string `json:"duration_per_round"`
	Rounds      int    `json:"rounds"`
	Threads     int    `json:"wrk_threads"`
	Connections int    `json:"wrk_connections"`
	GRPCWorkers int    `json:"grpc_workers"`
}

// ProcessMemory is one process's resident memory (VmRSS), and its private
// part (RssAnon).
type ProcessMemory struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// IdleKiB is taken before any load, AfterKiB when the load is over and
	// the process idle again (Go's heap keeps some of what it grew to).
	IdleKiB      int64  `json:"idle_kib"`
	AfterKiB     int64  `json:"after_load_kib"`
	IdleAnonKiB  int64  `json:"idle_anon_kib"`
	AfterAnonKiB int64  `json:"after_load_anon_kib"`
	Note         string `json:"note,omitempty"`
}

// HalfRate is the open-loop measurement at a fraction of a target's peak.
type HalfRate struct {
	Target     string      `json:"target"`
	Fraction   float64     `json:"fraction_of_peak"`
	OfferedRPS float64     `json:"offered_requests_per_sec"`
	Duration   string      `json:"duration"`
	Result     Measurement `json:"result"`
	Late       int64       `json:"late_starts"`
	FirstError string      `json:"first_error,omitempty"`
	NA         string      `json:"not_available,omitempty"`
}

// Report is a whole kitbench run.
type Report struct {
	Date     time.Time       `json:"date"`
	Machine  Machine         `json:"machine"`
	Settings Settings        `json:"settings"`
	Rows     []Row           `json:"targets"`
	Memory   []ProcessMemory `json:"memory"`
	HalfRate *HalfRate       `json:"half_rate,omitempty"`
	Events   *EventLatency   `json:"event_latency,omitempty"`
	Orders   *OrderPipeline  `json:"order_pipeline,omitempty"`
	Notes    []string        `json:"notes,omitempty"`
}

// Finish computes every row's summary, round spread and ratio to the
// baseline row.
func (r *Report) Finish() {
	var base float64
	for i := range r.Rows {
		row := &r.Rows[i]
		row.Summary = Summarize(row.Rounds)
		row.RPSMin, row.RPSMax = 0, 0
		for j, m := range row.Rounds {
			if j == 0 || m.RPS < row.RPSMin {
				row.RPSMin = m.RPS
			}
			row.RPSMax = max(row.RPSMax, m.RPS)
		}
		if row.Baseline && len(row.Rounds) > 0 {
			base = row.Summary.RPS
		}
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		row.Ratio = 0
		// A row with any failed request measured something else than the
		// target: it gets no ratio.
		if base > 0 && len(row.Rounds) > 0 && !row.Failed() {
			row.Ratio = row.Summary.RPS / base
		}
	}
}

// Failed reports whether any request of the row's rounds failed.
func (row *Row) Failed() bool { return row.Summary.Errors > 0 }

// Row returns the row with the given key.
func (r *Report) Row(key string) (*Row, bool) {
	for i := range r.Rows {
		if r.Rows[i].Key == key {
			return &r.Rows[i], true
		}
	}
	return nil, false
}

// TableHeader is the first line of the results table.
var TableHeader = []string{"target", "requests/s", "p50", "p99", "errors", "vs bare", "rounds (req/s)"}

// Table returns the results table's cells, one slice per row, without the
// header. A target that was not measured has two cells: its name and
// "n/a (why)", which spans the other columns.
func (r *Report) Table() [][]string {
	var cells [][]string
	for _, row := range r.Rows {
		if row.NA != "" || len(row.Rounds) == 0 {
			na := "n/a"
			if row.NA != "" {
				na = "n/a (" + row.NA + ")"
			}
			// Two cells: the reason spans the number columns.
			cells = append(cells, []string{row.Target, na})
			continue
		}
		s := row.Summary
		ratio := "—"
		switch {
		case row.Failed():
			ratio = "FAILED"
		case row.Ratio > 0:
			ratio = FormatRatio(row.Ratio)
		}
		cells = append(cells, []string{
			row.Target,
			FormatCount(s.RPS),
			s.P50.String(),
			s.P99.String(),
			FormatCount(float64(s.Errors)),
			ratio,
			FormatCount(row.RPSMin) + "–" + FormatCount(row.RPSMax),
		})
	}
	return cells
}

// FormatRatio formats a ratio to the baseline: "1.00×", "0.42×", "0.053×".
func FormatRatio(v float64) string {
	if v < 0.1 {
		return strconv.FormatFloat(v, 'f', 3, 64) + "×"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "×"
}

// FormatCount rounds v to an integer with thousands separators: "12,345".
func FormatCount(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FormatKiB formats a size in KiB as MiB with one decimal: "23.4 MiB".
func FormatKiB(kib int64) string {
	if kib <= 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB"
}

// TextTable lays out header and rows in aligned columns for a terminal:
// the first column left-aligned, the others right-aligned. A row with fewer
// cells than the header is a spanning row: its last cell runs on from its
// column, left-aligned, and does not widen the columns.
func TextTable(header []string, rows [][]string) string {
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			spans := len(r) < len(header) && i == len(r)-1 && i > 0
			if i < len(width) && !spans {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	var b strings.Builder
	line := func(r []string) {
		var parts []string
		for i := range header {
			if i >= len(r) {
				break
			}
			c := r[i]
			switch {
			case i == len(r)-1 && len(r) < len(header) && i > 0:
				parts = append(parts, c)
			case i == 0:
				parts = append(parts, c+strings.Repeat(" ", width[i]-len([]rune(c))))
			default:
				parts = append(parts, strings.Repeat(" ", width[i]-len([]rune(c)))+c)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(parts, "  "), " "))
		b.WriteByte('\n')
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// MarkdownTable lays out header and rows as a GitHub markdown table, the
// first column left-aligned and the others right-aligned. Pipes in cells
// are escaped.
func MarkdownTable(header []string, rows [][]string) string {
	var b strings.Builder
	line := func(r []string) {
		b.WriteString("|")
		for i := range header {
			c := ""
			if i < len(r) {
				c = strings.ReplaceAll(r[i], "|", `\|`)
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteByte('\n')
	}
	line(header)
	b.WriteString("| --- |")
	for range header[1:] {
		b.WriteString(" ---: |")
	}
	b.WriteByte('\n')
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// memoryTable returns the memory lines' header and cells.
func (r *Report) memoryTable() ([]string, [][]string) {
	header := []string{"process", "pid", "RSS idle (started, before the fixtures)", "private (RssAnon)",
		"RSS idle after load (22 s rest)", "private (RssAnon)"}
	var rows [][]string
	for _, m := range r.Memory {
		name := m.Name
		if m.Note != "" {
			name += " (" + m.Note + ")"
		}
		rows = append(rows, []string{name, strconv.Itoa(m.PID), FormatKiB(m.IdleKiB), FormatKiB(m.IdleAnonKiB),
			FormatKiB(m.AfterKiB), FormatKiB(m.AfterAnonKiB)})
	}
	return header, rows
}

// HalfRateLine describes the half-rate measurement in one sentence.
func (r *Report) HalfRateLine() string {
	h := r.HalfRate
	if h == nil {
		return ""
	}
	if h.NA != "" {
		return fmt.Sprintf("%s at %.0f%% of its peak: n/a (%s)", h.Target, h.Fraction*100, h.NA)
	}
	s := fmt.Sprintf("%s at %.0f%% of its peak, open loop (%s req/s offered for %s): %s req/s, p50 %s, p99 %s, errors %s",
		h.Target, h.Fraction*100, FormatCount(h.OfferedRPS), h.Duration,
		FormatCount(h.Result.RPS), h.Result.P50, h.Result.P99, FormatCount(float64(h.Result.Errors)))
	if h.Result.Errors > 0 && h.FirstError != "" {
		s += " (first: " + h.FirstError + ")"
	}
	if h.Late > 0 {
		s += fmt.Sprintf(", %s requests started late (every worker busy)", FormatCount(float64(h.Late)))
	}
	return s
}

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	b.WriteString(TextTable(TableHeader, r.Table()))
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			fmt.Fprintf(&b, "  note (%s): %s\n", row.Key, n)
		}
	}
	if line := r.HalfRateLine(); line != "" {
		fmt.Fprintf(&b, "\nhalf rate: %s\n", line)
	}
	if r.Events != nil {
		fmt.Fprintf(&b, "events: %s\n", r.Events.Line())
	}
	if r.Orders != nil {
		fmt.Fprintf(&b, "order pipeline: %s\n", r.Orders.Line())
	}
	if len(r.Memory) > 0 {
		b.WriteString("\nresident memory (VmRSS):\n")
		h, rows := r.memoryTable()
		b.WriteString(TextTable(h, rows))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Markdown renders the report as the document kitbench writes to
// bench/results/latest.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# kitbench results\n\n")
	fmt.Fprintf(&b, "- date: %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s; load average at start %s\n", r.Machine.NProc, r.Machine.CPU, r.Machine.LoadAvg)
	fmt.Fprintf(&b, "- Go: %s\n", r.Machine.GoVersion)
	fmt.Fprintf(&b, "- stack: %s\n", r.Settings.Stack)
	rounds := "1 round"
	if r.Settings.Rounds != 1 {
		rounds = strconv.Itoa(r.Settings.Rounds) + " rounds"
	}
	fmt.Fprintf(&b, "- load: wrk -t%d -c%d --latency, %s × %s per target, targets in a rotated order each round; gRPC: %d concurrent workers on one connection\n",
		r.Settings.Threads, r.Settings.Connections, rounds, r.Settings.Duration, r.Settings.GRPCWorkers)
	b.WriteString("- figures: median of the rounds (requests/s, p50, p99); errors summed over the rounds; \"rounds\" is the lowest and highest requests/s of a round\n\n")
	b.WriteString(MarkdownTable(TableHeader, r.Table()))
	var notes []string
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			notes = append(notes, fmt.Sprintf("%s: %s", row.Target, n))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if line := r.HalfRateLine(); line != "" {
		fmt.Fprintf(&b, "\n**Half rate:** %s.\n", line)
	}
	if r.Events != nil {
		fmt.Fprintf(&b, "\n**Events:** %s.\n", r.Events.Line())
	}
	if r.Orders != nil {
		fmt.Fprintf(&b, "\n**Order pipeline:** %s.\n", r.Orders.Line())
	}
	if len(r.Memory) > 0 {
		b.WriteString("\n## Resident memory (VmRSS)\n\n")
		h, rows := r.memoryTable()
		b.WriteString(MarkdownTable(h, rows))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// JSON renders the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
