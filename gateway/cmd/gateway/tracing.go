package main

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/version"
)

// setupTracing installs the gateway's tracing from -trace-ratio,
// -trace-dir and the OTEL_* environment (kit/tracing).
func setupTracing(ctx context.Context, c tracing.Config, logger log.Logger) (*tracing.Provider, error) {
	c.Service, c.Instance, c.Version = "gateway", "gateway", version.Get().Version
	c.Logger = log.With(logger, "component", "tracing")
	tp, err := tracing.Setup(ctx, c)
	if err != nil {
		return nil, err
	}
	if tp.Enabled() {
		// The sampler in force: OTEL_TRACES_SAMPLER may replace -trace-ratio.
		level.Info(logger).Log(append([]any{"msg", "tracing on"}, tp.Keyvals()...)...)
	}
	return tp, nil
}

// flushTraces exports the spans still buffered, within 5 s.
func flushTraces(tp *tracing.Provider, logger log.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		level.Warn(logger).Log("msg", "trace export at shutdown failed", "err", err)
	}
}
