package logging_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
)

// BenchmarkLogger measures one line through a logger built as the commands
// build theirs (New, a level filter, component key-values), in both
// formats.
func BenchmarkLogger(b *testing.B) {
	for _, format := range []string{logging.FormatLogfmt, logging.FormatJSON} {
		b.Run(format, func(b *testing.B) {
			logger := logging.New(io.Discard, format)
			logger = level.NewFilter(logger, level.AllowInfo())
			logger = log.With(logger, "service", "product", "component", "endpoint")
			b.ReportAllocs()
			for b.Loop() {
				level.Info(logger).Log("msg", "request", "method", "GET", "path", "/api/v1/products/42",
					"status", 200, "took", 1234*time.Microsecond, "request_id", "0123456789abcdef0123456789abcdef")
			}
		})
	}
}

// BenchmarkEndpointMiddleware measures the logging middleware around an
// endpoint that does nothing, with the level filter the commands use
// (info and above): a success, a business error, and a success logged at
// debug level (SuccessLevel), which the filter drops, built and dropped or,
// with FilteredBy, not built at all.
func BenchmarkEndpointMiddleware(b *testing.B) {
	notFound := errs.New(errs.NotFound, "product not found")
	levels, err := logging.NewLevelVar("info")
	if err != nil {
		b.Fatal(err)
	}
	logger := log.With(levels.Filter(logging.New(io.Discard, logging.FormatLogfmt)), "component", "endpoint")
	ctx := requestid.NewContext(context.Background(), requestid.New())
	for _, tt := range []struct {
		name string
		err  error
		opts []logging.Option
	}{
		{"success", nil, nil},
		{"business error", notFound, nil},
		{"success at debug", nil, []logging.Option{logging.SuccessLevel(level.DebugValue())}},
		{"success at debug, filtered by", nil, []logging.Option{logging.SuccessLevel(level.DebugValue()), logging.FilteredBy(levels)}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			ep := logging.EndpointMiddleware(logger, "GetProduct", tt.opts...)(func(context.Context, any) (any, error) { return "ok", tt.err })
			b.ReportAllocs()
			for b.Loop() {
				ep(ctx, nil)
			}
		})
	}
}
