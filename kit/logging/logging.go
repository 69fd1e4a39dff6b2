package logging

import (
	"context"
	"io"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/requestid"
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
		logger = log.NewLogfmtLogger(w)
	}
	return log.With(logger, "ts", log.TimestampFormat(utcNow, time.RFC3339Nano), "caller", log.DefaultCaller)
}

func utcNow() time.Time { return time.Now().UTC() }

// EndpointMiddleware logs one line per call of the wrapped endpoint: method,
// request_id (when the context has one), took and, on failure, kind and err
// (the full error including its cause, which clients never see).
//
// Successes and business errors (not found, invalid input, …) are logged at
// info level: they are the caller's problem, not ours. Internal and
// Unavailable errors are logged at error level so they can be alerted on.
func EndpointMiddleware(logger log.Logger, method string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (response any, err error) {
			defer func(begin time.Time) {
				logCall(ctx, logger, method, time.Since(begin), err)
			}(time.Now())
			return next(ctx, request)
		}
	}
}

func logCall(ctx context.Context, logger log.Logger, method string, took time.Duration, err error) {
	kv := make([]any, 0, 10)
	kv = append(kv, "method", method)
	if id := requestid.FromContext(ctx); id != "" {
		kv = append(kv, "request_id", id)
	}
	kv = append(kv, "took", took)
	if err == nil {
		_ = level.Info(logger).Log(kv...)
		return
	}
	kind := errs.KindOf(err)
	kv = append(kv, "kind", kind.String(), "err", err)
	if kind.Business() {
		_ = level.Info(logger).Log(kv...)
		return
	}
	_ = level.Error(logger).Log(kv...)
}
