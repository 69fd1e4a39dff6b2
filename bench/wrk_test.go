package bench_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/bench"
)

// readSample returns a wrk output captured from a real run (testdata/wrk).
func readSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wrk", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseWrk(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	us := func(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
	tests := []struct {
		sample     string
		want       bench.WrkResult
		wantErrors int64
	}{
		{
			// A clean run: no error lines at all.
			sample: "ok.txt",
			want: bench.WrkResult{
				Requests: 77780, Elapsed: ms(2010), RPS: 38714.16,
				LatencyAvg: ms(2.24), LatencyMax: ms(63.88),
				P50: us(570), P75: ms(1.93), P90: ms(5.42), P99: ms(25.78),
			},
		},
		{
			// Every answer a 404.
			sample: "non2xx.txt",
			want: bench.WrkResult{
				Requests: 65823, Elapsed: ms(2110), RPS: 31258.28,
				LatencyAvg: ms(3.80), LatencyMax: ms(75.98),
				P50: us(637), P75: ms(2.29), P90: ms(9.21), P99: ms(51.38),
				Non2xx: 65823,
			},
			wantErrors: 65823,
		},
		{
			// Every request slower than --timeout: no latency recorded.
			sample: "timeouts.txt",
			want: bench.WrkResult{
				Requests: 16, Elapsed: ms(3030), RPS: 5.28,
				Timeout: 16,
			},
			wantErrors: 16,
		},
		{
			// Latencies in seconds, with wrk's trailing spaces.
			sample: "seconds.txt",
			want: bench.WrkResult{
				Requests: 8, Elapsed: ms(3020), RPS: 2.65,
				LatencyAvg: 1500 * time.Millisecond, LatencyMax: 1500 * time.Millisecond,
				P50: 1500 * time.Millisecond, P75: 1500 * time.Millisecond, P90: 1500 * time.Millisecond, P99: 1500 * time.Millisecond,
			},
		},
		{
			// The server killed a second into the run.
			sample: "server_died.txt",
			want: bench.WrkResult{
				Requests: 42776, Elapsed: ms(3070), RPS: 13931.75,
				LatencyAvg: us(614.32), LatencyMax: ms(37.67),
				P50: us(83), P75: us(155), P90: us(703), P99: ms(12.44),
				Read: 12, Write: 88416,
			},
			wantErrors: 88428,
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.sample, ".txt"), func(t *testing.T) {
			got, err := bench.ParseWrk(readSample(t, tt.sample))
			if err != nil {
				t.Fatalf("ParseWrk: %v", err)
			}
			if !closeResult(got, tt.want) {
				t.Errorf("ParseWrk:\n got %+v\nwant %+v", got, tt.want)
			}
			if got.Errors() != tt.wantErrors {
				t.Errorf("Errors() = %d, want %d", got.Errors(), tt.wantErrors)
			}
		})
	}
}

// closeResult compares two results, allowing durations a nanosecond of
// float rounding.
func closeResult(a, b bench.WrkResult) bool {
	near := func(x, y time.Duration) bool { return x-y <= 1 && y-x <= 1 }
	return a.Requests == b.Requests && near(a.Elapsed, b.Elapsed) && a.RPS == b.RPS &&
		near(a.LatencyAvg, b.LatencyAvg) && near(a.LatencyMax, b.LatencyMax) &&
		near(a.P50, b.P50) && near(a.P75, b.P75) && near(a.P90, b.P90) && near(a.P99, b.P99) &&
		a.Non2xx == b.Non2xx && a.Connect == b.Connect && a.Read == b.Read && a.Write == b.Write && a.Timeout == b.Timeout
}

func TestParseWrkRejects(t *testing.T) {
	ok := readSample(t, "ok.txt")
	withoutDistribution := strings.Join(slices.DeleteFunc(strings.Split(ok, "\n"), func(l string) bool {
		return strings.Contains(l, "%  ") || strings.Contains(l, "Distribution")
	}), "\n")
	tests := []struct {
		name, out, wantErr string
	}{
		{"connection refused", "unable to connect to 127.0.0.1:18778 Connection refused\n", "requests in"},
		{"no --latency", withoutDistribution, "--latency"},
		{"no Requests/sec", strings.Replace(ok, "Requests/sec:", "Requests per second:", 1), "Requests/sec"},
		{"unknown unit", strings.Replace(ok, "25.78ms", "25.78ns", 1), "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bench.ParseWrk(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWrk error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"570.00us", 570 * time.Microsecond},
		{"2.31ms", 2310 * time.Microsecond},
		{"1.50s", 1500 * time.Millisecond},
		{"2.00m", 2 * time.Minute},
		{"0.00us", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := bench.ParseWrkDuration(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := got - tt.want; d > 1 || d < -1 {
				t.Errorf("ParseWrkDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "ms", "12", "1.2.3ms", "3ns"} {
		if _, err := bench.ParseWrkDuration(bad); err == nil {
			t.Errorf("ParseWrkDuration(%q): want an error", bad)
		}
	}
}

func TestLuaScript(t *testing.T) {
	got := bench.LuaScript(bench.Request{
		Method: "POST",
		Headers: map[string]string{
			"Content-Type":  "application/json",
			"Authorization": `Bearer a"b\c`,
		},
		Body: "{\"items\":[]}\n\xe2\x82\xac",
	})
	want := `wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer a\"b\\c"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{\"items\":[]}\010\226\130\172"
`
	if got != want {
		t.Errorf("LuaScript:\n got %s\nwant %s", got, want)
	}
}

func TestLuaScriptBodies(t *testing.T) {
	got := bench.LuaScript(bench.Request{Method: "POST", Bodies: []string{`{"a":1}`, `{"a":2}`}, Body: "ignored"})
	for _, want := range []string{`local bodies = {
  "{\"a\":1}",
  "{\"a\":2}",
}`, "request = function()", "wrk.format(nil, nil, nil, bodies[i])", `thread:set("start"`} {
		if !strings.Contains(got, want) {
			t.Errorf("LuaScript lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "wrk.body") || strings.Contains(got, "ignored") {
		t.Errorf("LuaScript sets wrk.body although Bodies are set:\n%s", got)
	}
}

func TestWrkConfigArgs(t *testing.T) {
	tests := []struct {
		name       string
		cfg        bench.WrkConfig
		wantArgs   []string
		wantScript bool
	}{
		{
			name:     "plain GET",
			cfg:      bench.WrkConfig{URL: "http://x/p", Threads: 2, Connections: 32, Duration: 10 * time.Second},
			wantArgs: []string{"-t2", "-c32", "-d10s", "--latency", "http://x/p"},
		},
		{
			name:     "fractions rounded, at least a second, timeout",
			cfg:      bench.WrkConfig{URL: "http://x/p", Threads: 1, Connections: 4, Duration: 300 * time.Millisecond, Timeout: 2 * time.Second},
			wantArgs: []string{"-t1", "-c4", "-d1s", "--latency", "--timeout", "2s", "http://x/p"},
		},
		{
			name:       "POST needs a script",
			cfg:        bench.WrkConfig{URL: "http://x/p", Threads: 2, Connections: 32, Duration: 10 * time.Second, Request: bench.Request{Method: "POST", Body: "{}"}},
			wantArgs:   []string{"-t2", "-c32", "-d10s", "--latency", "-s", "/tmp/s.lua", "http://x/p"},
			wantScript: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotArgs, script := tt.cfg.Args("/tmp/s.lua")
			if !slices.Equal(gotArgs, tt.wantArgs) {
				t.Errorf("Args = %q, want %q", gotArgs, tt.wantArgs)
			}
			if (script != "") != tt.wantScript {
				t.Errorf("script = %q, want one: %v", script, tt.wantScript)
			}
		})
	}
}

// TestRunWrk drives a real wrk against a test server with a scripted POST,
// so the script, the flags and the parser are checked together.
func TestRunWrk(t *testing.T) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatalf("wrk not found: run `make deps` (apt-get install wrk): %v", err)
	}
	var good, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && r.Header.Get("Authorization") == `Bearer t"k` && string(body) == `{"q":"x"}` {
			good.Add(1)
			w.WriteHeader(http.StatusCreated)
			return
		}
		bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := bench.RunWrk(ctx, bench.WrkConfig{
		Path: path, URL: srv.URL, Threads: 1, Connections: 2, Duration: time.Second,
		Request:   bench.Request{Method: "POST", Headers: map[string]string{"Authorization": `Bearer t"k`}, Body: `{"q":"x"}`},
		ScriptDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("RunWrk: %v", err)
	}
	if got.Requests == 0 || got.RPS <= 0 || got.P99 <= 0 {
		t.Errorf("RunWrk = %+v, want requests, a rate and latencies", got)
	}
	if got.Errors() != 0 || bad.Load() != 0 {
		t.Errorf("errors = %d, server saw %d bad requests, want none", got.Errors(), bad.Load())
	}
	if good.Load() < got.Requests {
		t.Errorf("server saw %d good requests, wrk reports %d", good.Load(), got.Requests)
	}
}
