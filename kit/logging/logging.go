package logging

import (
	"context"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// The formats New understands.
const (
	FormatLogfmt = "logfmt"
	FormatJSON   = "json"
)

// ValidFormat reports whether New understands format; use it to reject a bad
// -log-format flag instead of silently falling back.
func ValidFormat(format string) bool {
	return format == "" || format == FormatLogfmt || format == FormatJSON
}

// New returns a logger writing to w in the given format: "json", or "logfmt"
// for anything else (including ""). Every line starts with ts (UTC,
// RFC 3339 with nanoseconds) and caller (file:line of the Log call). Writes
// are serialised, so the logger is safe for concurrent use.
func New(w io.Writer, format string) log.Logger {
	w = log.NewSyncWriter(w)
	var logger log.Logger
	if format == FormatJSON {
		logger = log.NewJSONLogger(w)
	} else {
		logger = newLogfmtLogger(w)
	}
	return log.With(logger, "ts", log.Valuer(timestamp), "caller", newCallers().valuer())
}

// timestamp is the "ts" value: the time formatted as a string, which both
// encoders write as it is (go-kit's log.TimestampFormat produces the same
// text, through a TextMarshaler the logfmt fast path does not take).
func timestamp() any { return utcNow().Format(time.RFC3339Nano) }

// callers resolves the "caller" value of New's loggers: the file:line of the
// first frame outside go-kit/log, wherever between the two the caller's
// logger was wrapped (log.With, level filters). go-kit's own DefaultCaller
// counts a fixed number of frames instead, so behind a level.NewFilter it
// names the filter (level.go) rather than the code that logged.
//
// Each program counter is resolved to its file and line once and cached:
// runtime.Caller resolves it afresh on every line, the most expensive part
// of a line after its encoding. The cache holds one entry per distinct
// frame that logs, a bounded set.
type callers struct {
	sites sync.Map // uintptr (pc) -> callSite
}

type callSite struct {
	internal bool   // in go-kit/log or go-kit/log/level: skip it
	at       string // "file.go:42"
}

func newCallers() *callers { return &callers{} }

// callerWindow is how many frames the valuer unwinds at a time: enough for
// the go-kit frames between the valuer and the code that logged behind a
// level filter and a couple of log.With (five), without unwinding the whole
// stack, which costs per frame.
const callerWindow = 6

func (c *callers) valuer() log.Valuer {
	return func() any {
		var pcs [callerWindow]uintptr
		at := ""
		// Skip runtime.Callers, this function and go-kit's bindValues, which
		// always calls it.
		for skip := 3; ; skip += callerWindow {
			n := runtime.Callers(skip, pcs[:])
			for _, pc := range pcs[:n] {
				site := c.site(pc)
				if !site.internal {
					return site.at
				}
				at = site.at
			}
			if n < callerWindow {
				return at // the stack ended inside go-kit: name its last frame
			}
		}
	}
}

func (c *callers) site(pc uintptr) callSite {
	if v, ok := c.sites.Load(pc); ok {
		return v.(callSite)
	}
	// As runtime.Caller does: the first (innermost) frame at pc.
	frame, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	fn := frame.Function
	site := callSite{
		internal: strings.HasPrefix(fn, "github.com/go-kit/log.") || strings.HasPrefix(fn, "github.com/go-kit/log/level.") ||
			strings.HasPrefix(fn, levelFilterFunc),
		at: frame.File[strings.LastIndexByte(frame.File, '/')+1:] + ":" + strconv.Itoa(frame.Line),
	}
	c.sites.Store(pc, site)
	return site
}

// levelFilterFunc prefixes the name of LevelVar's filter, which sits
// between the code that logs and the valuer like go-kit's own filter.
const levelFilterFunc = "github.com/kitshop/kitshop/kit/logging.(*levelFilter)."

func utcNow() time.Time { return time.Now().UTC() }

// EndpointMiddleware logs one line per call of the wrapped endpoint: method,
// request_id, trace_id and span_id (when the context has them), took and, on failure, kind and err
// (the full error including its cause, which clients never see).
//
// Successes and business errors (not found, invalid input, …) are logged at
// info level: they are the caller's problem, not ours. Internal and
// Unavailable errors are logged at error level so they can be alerted on.
// SuccessLevel moves the successes of a method to another level.
func EndpointMiddleware(logger log.Logger, method string, opts ...Option) endpoint.Middleware {
	o := options{successLevel: level.InfoValue()}
	for _, opt := range opts {
		opt(&o)
	}
	// The leveled loggers are built once here, not per call.
	l := &callLogger{
		method:   method,
		levels:   o.levels,
		level:    o.successLevel,
		success:  log.WithPrefix(logger, level.Key(), o.successLevel),
		rejected: level.Info(logger),
		failed:   level.Error(logger),
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (response any, err error) {
			defer func(begin time.Time) {
				l.log(ctx, time.Since(begin), err)
			}(time.Now())
			return next(ctx, request)
		}
	}
}

// Option tunes EndpointMiddleware.
type Option func(*options)

type options struct {
	successLevel level.Value
	levels       *LevelVar
}

// SuccessLevel logs the method's successful calls at lvl instead of info,
// for instance level.DebugValue() for a read that runs thousands of times a
// second: a line per successful read costs more than the read's own
// middleware together (a formatted line and a write), and says little that
// the request metrics (kit/metrics, by method and outcome, with latency) do
// not. Failures keep their levels: a rejected read is still logged at info,
// a failed one at error.
func SuccessLevel(lvl level.Value) Option {
	return func(o *options) { o.successLevel = lvl }
}

// FilteredBy tells EndpointMiddleware the level in force in the logger it is
// given (the LevelVar that filters it), so that a success below that level
// is not even built: a read logged at debug behind an info filter then
// costs a level comparison instead of a line's key-value slice, which the
// filter built and dropped for every request (2 to 3% of the product
// service's CPU on its read path). Without it every line is built and left
// to the logger's filters.
func FilteredBy(lv *LevelVar) Option {
	return func(o *options) { o.levels = lv }
}

// callLogger writes the lines of one method's calls.
type callLogger struct {
	method   string
	levels   *LevelVar   // nil: unknown, every line is built
	level    level.Value // of successes
	success  log.Logger  // successful calls
	rejected log.Logger  // business errors
	failed   log.Logger  // every other error
}

func (l *callLogger) log(ctx context.Context, took time.Duration, err error) {
	if err == nil && l.levels != nil && !l.levels.Enabled(l.level) {
		return
	}
	kv := make([]any, 0, 14)
	kv = append(kv, "method", l.method)
	kv = AppendRequest(kv, ctx)
	kv = append(kv, "took", took)
	if err == nil {
		_ = l.success.Log(kv...)
		return
	}
	kind := errs.KindOf(err)
	kv = append(kv, "kind", kind.String(), "err", err)
	if kind.Business() {
		_ = l.rejected.Log(kv...)
		return
	}
	_ = l.failed.Log(kv...)
}
