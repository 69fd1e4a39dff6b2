package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
)

func TestNewLogfmt(t *testing.T) {
	for _, format := range []string{"", "logfmt", "something-else"} {
		t.Run("format="+format, func(t *testing.T) {
			var buf bytes.Buffer
			logger := logging.New(&buf, format)
			_ = logger.Log("msg", "hello", "n", 1)

			line := strings.TrimSpace(buf.String())
			if !strings.HasPrefix(line, "ts=") {
				t.Errorf("line %q does not start with ts=", line)
			}
			for _, want := range []string{"caller=logging_test.go:", "msg=hello", "n=1"} {
				if !strings.Contains(line, want) {
					t.Errorf("line %q does not contain %q", line, want)
				}
			}
		})
	}
}

func TestNewJSON(t *testing.T) {
	var buf bytes.Buffer
	logger := logging.New(&buf, "json")
	_ = logger.Log("msg", "hello", "took", 1500*time.Millisecond)

	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("line %q is not JSON: %v", buf.String(), err)
	}
	ts, _ := got["ts"].(string)
	parsed, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Fatalf("ts %q: %v", ts, err)
	}
	if !strings.HasSuffix(ts, "Z") {
		t.Errorf("ts %q is not UTC", ts)
	}
	if d := time.Since(parsed); d < 0 || d > time.Minute {
		t.Errorf("ts %v is not now", parsed)
	}
	if caller, _ := got["caller"].(string); !strings.HasPrefix(caller, "logging_test.go:") {
		t.Errorf("caller = %q, want logging_test.go:<line>", caller)
	}
	if got, want := got["took"], "1.5s"; got != want {
		t.Errorf("took = %v, want %v", got, want)
	}
}

func TestValidFormat(t *testing.T) {
	tests := []struct {
		format string
		want   bool
	}{{"", true}, {"logfmt", true}, {"json", true}, {"JSON", false}, {"text", false}}
	for _, tt := range tests {
		if got := logging.ValidFormat(tt.format); got != tt.want {
			t.Errorf("ValidFormat(%q) = %v, want %v", tt.format, got, tt.want)
		}
	}
}

type secretRequest struct {
	Email    string
	Password string
}

func TestEndpointMiddleware(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	tests := []struct {
		name      string
		requestID string
		err       error
		want      []string // substrings of the line
		wantNot   []string
	}{
		{
			name:      "success",
			requestID: "req-1",
			want:      []string{"level=info", "method=GetProduct", "request_id=req-1", "took="},
			wantNot:   []string{"kind=", "err="},
		},
		{
			name:      "business error logged at info",
			requestID: "req-2",
			err:       errs.New(errs.NotFound, "product not found"),
			want:      []string{"level=info", "method=GetProduct", "request_id=req-2", "kind=not_found", `err="not_found: product not found"`},
		},
		{
			name:      "unavailable logged at error with cause",
			requestID: "req-3",
			err:       errs.Wrap(cause, errs.Unavailable, "database unavailable"),
			want:      []string{"level=error", "kind=unavailable", "connection refused", "request_id=req-3"},
		},
		{
			name:    "unclassified error is internal",
			err:     cause,
			want:    []string{"level=error", "kind=internal", "connection refused"},
			wantNot: []string{"request_id="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := log.NewLogfmtLogger(&buf)
			ep := logging.EndpointMiddleware(logger, "GetProduct")(func(context.Context, any) (any, error) {
				if tt.err != nil {
					return nil, tt.err
				}
				return secretRequest{Email: "bob@example.com", Password: "response-secret"}, nil
			})
			ctx := context.Background()
			if tt.requestID != "" {
				ctx = requestid.NewContext(ctx, tt.requestID)
			}
			_, gotErr := ep(ctx, secretRequest{Email: "alice@example.com", Password: "hunter2"})
			if gotErr != tt.err {
				t.Errorf("error = %v, want %v unchanged", gotErr, tt.err)
			}

			line := buf.String()
			if got := strings.Count(line, "\n"); got != 1 {
				t.Errorf("logged %d lines, want 1: %q", got, line)
			}
			for _, want := range tt.want {
				if !strings.Contains(line, want) {
					t.Errorf("line %q does not contain %q", line, want)
				}
			}
			for _, bad := range append(tt.wantNot, "hunter2", "alice@example.com", "response-secret", "bob@example.com") {
				if strings.Contains(line, bad) {
					t.Errorf("line %q contains %q", line, bad)
				}
			}
		})
	}
}

func TestEndpointMiddlewareSuccessLevel(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	tests := []struct {
		name    string
		err     error
		filter  bool     // behind level.AllowInfo, as the commands log
		want    []string // substrings of the line; nil: no line at all
		wantNot []string
	}{
		{name: "success at debug", want: []string{"level=debug", "method=ListProducts", "request_id=req-1", "took="}, wantNot: []string{"level=info"}},
		{name: "success filtered out", filter: true},
		{name: "business error still info", filter: true, err: errs.New(errs.NotFound, "product not found"),
			want: []string{"level=info", "kind=not_found"}},
		{name: "failure still error", filter: true, err: errs.Wrap(cause, errs.Unavailable, "database unavailable"),
			want: []string{"level=error", "kind=unavailable", "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := log.NewLogfmtLogger(&buf)
			if tt.filter {
				logger = level.NewFilter(logger, level.AllowInfo())
			}
			ep := logging.EndpointMiddleware(logger, "ListProducts", logging.SuccessLevel(level.DebugValue()))(
				func(context.Context, any) (any, error) { return "page", tt.err })
			_, _ = ep(requestid.NewContext(context.Background(), "req-1"), nil)
			line := buf.String()
			if tt.want == nil {
				if line != "" {
					t.Errorf("logged %q, want nothing", line)
				}
				return
			}
			if got := strings.Count(line, "\n"); got != 1 {
				t.Errorf("logged %d lines, want 1: %q", got, line)
			}
			for _, want := range tt.want {
				if !strings.Contains(line, want) {
					t.Errorf("line %q does not contain %q", line, want)
				}
			}
			for _, bad := range tt.wantNot {
				if strings.Contains(line, bad) {
					t.Errorf("line %q contains %q", line, bad)
				}
			}
		})
	}
}

// TestEndpointMiddlewareFilteredBy checks that a middleware told the
// LevelVar in force skips the successes below it, follows the level when it
// changes while the process runs, and still logs the failures.
func TestEndpointMiddlewareFilteredBy(t *testing.T) {
	tests := []struct {
		name     string
		levelNow string
		err      error
		want     string // a substring of the line; "": no line at all
	}{
		{name: "success below the level", levelNow: "info"},
		{name: "success once the level is debug", levelNow: "debug", want: "level=debug method=GetProduct"},
		{name: "business error at info", levelNow: "info", err: errs.New(errs.NotFound, "product not found"), want: "kind=not_found"},
		{name: "success below warn", levelNow: "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			levels, err := logging.NewLevelVar("info")
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			logger := levels.Filter(log.NewLogfmtLogger(&buf))
			ep := logging.EndpointMiddleware(logger, "GetProduct", logging.FilteredBy(levels), logging.SuccessLevel(level.DebugValue()))(
				func(context.Context, any) (any, error) { return "ok", tt.err })
			if err := levels.Set(tt.levelNow); err != nil {
				t.Fatal(err)
			}
			_, _ = ep(context.Background(), nil)
			line := buf.String()
			switch {
			case tt.want == "" && line != "":
				t.Errorf("logged %q, want nothing", line)
			case tt.want != "" && !strings.Contains(line, tt.want):
				t.Errorf("logged %q, want a line with %q", line, tt.want)
			}
		})
	}
}

// TestNewCallerBehindWrappers checks that caller names the line that logged
// however the logger was wrapped on the way: level filters and log.With, as
// the commands wrap theirs, and level.Info at the call.
func TestNewCallerBehindWrappers(t *testing.T) {
	var buf bytes.Buffer
	base := logging.New(&buf, "logfmt")
	wrapped := log.With(level.NewFilter(base, level.AllowInfo()), "service", "product")
	wrapped = log.With(wrapped, "component", "endpoint")
	lv, _ := logging.NewLevelVar("info")
	live := log.With(lv.Filter(base), "service", "product")
	tests := []struct {
		name   string
		logger log.Logger
	}{{"plain", base}, {"filtered and with", wrapped}, {"leveled", level.Info(wrapped)}, {"live level", level.Info(live)}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			_, _, line, _ := runtime.Caller(0)
			_ = tt.logger.Log("msg", "hello") // must be the line after runtime.Caller
			want := "caller=logging_test.go:" + strconv.Itoa(line+1) + " "
			if got := buf.String(); !strings.Contains(got, want) {
				t.Errorf("line %q lacks %q", got, want)
			}
		})
	}
	// The same call site again, now from the cache.
	for range 2 {
		buf.Reset()
		_, _, line, _ := runtime.Caller(0)
		_ = level.Info(wrapped).Log("msg", "again")
		if want := "caller=logging_test.go:" + strconv.Itoa(line+1) + " "; !strings.Contains(buf.String(), want) {
			t.Errorf("line %q lacks %q", buf.String(), want)
		}
	}
}
