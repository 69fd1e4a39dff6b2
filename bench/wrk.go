package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one wrk run printed.
type WrkResult struct {
	// Requests is the number of completed requests and Elapsed the time
	// wrk ran ("N requests in 10.01s").
	Requests int64
	Elapsed  time.Duration
	// RPS is wrk's "Requests/sec".
	RPS float64
	// LatencyAvg and LatencyMax come from the thread stats; zero when wrk
	// printed none (no request completed).
	LatencyAvg time.Duration
	LatencyMax time.Duration
	// P50, P75, P90 and P99 are the --latency distribution.
	P50, P75, P90, P99 time.Duration
	// Non2xx counts responses with a status of 400 or more (wrk's
	// "Non-2xx or 3xx responses", whatever its wording says).
	Non2xx int64
	// Socket errors, from "Socket errors: connect C, read R, write W,
	// timeout T". A timeout is a request that took longer than --timeout.
	Connect, Read, Write, Timeout int64
}

// Errors returns every failed request: error statuses and socket errors.
func (r WrkResult) Errors() int64 {
	return r.Non2xx + r.Connect + r.Read + r.Write + r.Timeout
}

// Measurement returns the result in the harness's common shape.
func (r WrkResult) Measurement() Measurement {
	return Measurement{
		RPS:      r.RPS,
		P50:      Ms(r.P50),
		P99:      Ms(r.P99),
		Errors:   r.Errors(),
		Requests: r.Requests,
	}
}

var (
	wrkRequestsLine = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+[a-z]+),`)
	wrkRPSLine      = regexp.MustCompile(`(?m)^Requests/sec:\s*([0-9.]+)\s*$`)
	wrkLatencyLine  = regexp.MustCompile(`(?m)^\s*Latency\s+([0-9.]+[a-z]+)\s+\S+\s+([0-9.]+[a-z]+)\s`)
	wrkPercentLine  = regexp.MustCompile(`(?m)^\s*(50|75|90|99)%\s+([0-9.]+[a-z]+)\s*$`)
	wrkSocketLine   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
	wrkNon2xxLine   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)\s*$`)
)

// ParseWrk reads the output of `wrk --latency`. The request count,
// Requests/sec and the 50% and 99% latency lines must be there (the
// distribution only is with --latency); error lines are optional, since wrk
// prints them only when there were errors.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	m := wrkRequestsLine.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New(`wrk output: no "N requests in T" line`)
	}
	var err error
	if r.Requests, err = strconv.ParseInt(m[1], 10, 64); err != nil {
		return r, fmt.Errorf("wrk output: request count %q: %w", m[1], err)
	}
	if r.Elapsed, err = ParseWrkDuration(m[2]); err != nil {
		return r, err
	}

	m = wrkRPSLine.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New(`wrk output: no "Requests/sec" line`)
	}
	if r.RPS, err = strconv.ParseFloat(m[1], 64); err != nil {
		return r, fmt.Errorf("wrk output: Requests/sec %q: %w", m[1], err)
	}

	if m = wrkLatencyLine.FindStringSubmatch(out); m != nil {
		if r.LatencyAvg, err = ParseWrkDuration(m[1]); err != nil {
			return r, err
		}
		if r.LatencyMax, err = ParseWrkDuration(m[2]); err != nil {
			return r, err
		}
	}

	found := map[string]*time.Duration{"50": &r.P50, "75": &r.P75, "90": &r.P90, "99": &r.P99}
	seen := map[string]bool{}
	for _, m := range wrkPercentLine.FindAllStringSubmatch(out, -1) {
		d, err := ParseWrkDuration(m[2])
		if err != nil {
			return r, err
		}
		*found[m[1]] = d
		seen[m[1]] = true
	}
	if !seen["50"] || !seen["99"] {
		return r, errors.New("wrk output: no latency distribution (was wrk run with --latency?)")
	}

	if m = wrkSocketLine.FindStringSubmatch(out); m != nil {
		for i, dst := range []*int64{&r.Connect, &r.Read, &r.Write, &r.Timeout} {
			if *dst, err = strconv.ParseInt(m[i+1], 10, 64); err != nil {
				return r, fmt.Errorf("wrk output: socket errors: %w", err)
			}
		}
	}
	if m = wrkNon2xxLine.FindStringSubmatch(out); m != nil {
		if r.Non2xx, err = strconv.ParseInt(m[1], 10, 64); err != nil {
			return r, fmt.Errorf("wrk output: non-2xx count: %w", err)
		}
	}
	return r, nil
}

// wrkUnits are the time units wrk prints (units.c: time_units_us).
var wrkUnits = map[string]time.Duration{
	"us": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
}

// ParseWrkDuration parses a time as wrk prints it: "812.00us", "2.31ms",
// "1.02s", "1.50m".
func ParseWrkDuration(s string) (time.Duration, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' })
	if i <= 0 {
		return 0, fmt.Errorf("wrk output: time %q has no number or no unit", s)
	}
	unit, ok := wrkUnits[s[i:]]
	if !ok {
		return 0, fmt.Errorf("wrk output: time %q: unknown unit %q", s, s[i:])
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("wrk output: time %q: %w", s, err)
	}
	return time.Duration(v * float64(unit)), nil
}

// Request is an HTTP request for wrk to repeat. The zero value is a plain
// GET, which needs no script.
type Request struct {
	Method  string // "" means GET
	Headers map[string]string
	Body    string
	// Bodies, when set, replace Body: each wrk thread sends them in turn,
	// the threads starting at different ones.
	Bodies []string
}

// plain reports whether wrk can send the request without a Lua script.
func (r Request) plain() bool {
	return (r.Method == "" || r.Method == "GET") && len(r.Headers) == 0 && r.Body == "" && len(r.Bodies) == 0
}

// LuaScript returns a wrk script that sends r on every request. Headers are
// written in name order, so the script is stable.
func LuaScript(r Request) string {
	var b strings.Builder
	method := r.Method
	if method == "" {
		method = "GET"
	}
	fmt.Fprintf(&b, "wrk.method = %s\n", luaString(method))
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", luaString(name), luaString(r.Headers[name]))
	}
	if r.Body != "" && len(r.Bodies) == 0 {
		fmt.Fprintf(&b, "wrk.body = %s\n", luaString(r.Body))
	}
	if len(r.Bodies) > 0 {
		b.WriteString("local bodies = {\n")
		for _, body := range r.Bodies {
			fmt.Fprintf(&b, "  %s,\n", luaString(body))
		}
		b.WriteString("}\n")
		// setup runs in the main Lua state, once per thread; each thread
		// then has a state of its own, where start is set.
		b.WriteString(`local threads = 0
setup = function(thread)
  thread:set("start", threads * 7919)
  threads = threads + 1
end
local i = 0
init = function(args)
  i = start % #bodies
end
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
`)
	}
	return b.String()
}

// luaString quotes s as a Lua string literal: printable ASCII as is except
// quote and backslash, every other byte as a decimal escape.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// WrkConfig is one wrk run.
type WrkConfig struct {
	// Path is the wrk binary; "" means "wrk" from PATH.
	Path string
	URL  string
	// Threads and Connections are wrk's -t and -c.
	Threads     int
	Connections int
	// Duration is rounded to whole seconds (wrk takes no fractions), at
	// least one.
	Duration time.Duration
	// Timeout is wrk's --timeout: slower requests count as socket timeouts.
	// 0 means wrk's default (2 s).
	Timeout time.Duration
	// Request is what to send; a non-GET or one with headers or a body goes
	// through a Lua script written to ScriptDir ("" means os.TempDir()).
	Request   Request
	ScriptDir string
}

// Args returns wrk's command line (without the program name) and the Lua
// script it needs, if any; the caller writes the script to scriptPath.
func (c WrkConfig) Args(scriptPath string) (args []string, script string) {
	secs := int64(c.Duration.Round(time.Second) / time.Second)
	secs = max(secs, 1)
	args = []string{
		"-t" + strconv.Itoa(c.Threads),
		"-c" + strconv.Itoa(c.Connections),
		"-d" + strconv.FormatInt(secs, 10) + "s",
		"--latency",
	}
	if c.Timeout > 0 {
		args = append(args, "--timeout", strconv.FormatInt(int64(max(c.Timeout.Round(time.Second)/time.Second, 1)), 10)+"s")
	}
	if !c.Request.plain() {
		script = LuaScript(c.Request)
		args = append(args, "-s", scriptPath)
	}
	return append(args, c.URL), script
}

// RunWrk runs wrk once and parses its output. It kills wrk if it runs well
// past its duration (or when ctx ends), so a stuck server cannot hang the
// harness.
func RunWrk(ctx context.Context, c WrkConfig) (WrkResult, error) {
	path := c.Path
	if path == "" {
		path = "wrk"
	}
	dir := c.ScriptDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "kitbench-*.lua")
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk script: %w", err)
	}
	scriptPath := f.Name()
	defer os.Remove(scriptPath)
	args, script := c.Args(scriptPath)
	_, werr := f.WriteString(script)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return WrkResult{}, fmt.Errorf("wrk script: %w", werr)
	}

	// wrk stops by itself after -d; the margin covers its start and the
	// --timeout of the last requests.
	ctx, cancel := context.WithTimeout(ctx, c.Duration+max(c.Timeout, 2*time.Second)+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("%s %s: %w\n%s", filepath.Base(path), strings.Join(args, " "), err, out)
	}
	r, err := ParseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, out)
	}
	return r, nil
}
