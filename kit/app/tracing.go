package app

import (
	"context"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/version"
)

// traceFlushTimeout bounds the export of the spans still buffered at
// shutdown.
const traceFlushTimeout = 5 * time.Second

// setupTracing installs the process's tracing (kit/tracing.Setup) from
// -trace-ratio, -trace-dir and the OTEL_* environment, flushed when the
// App closes, after everything else.
func (a *App) setupTracing(ctx context.Context) error {
	c := a.Options.Trace
	c.Service, c.Instance, c.Version = a.Spec.Name, a.Options.InstanceID, version.Get().Version
	c.Logger = a.Log("tracing")
	p, err := tracing.Setup(ctx, c)
	if err != nil {
		return err
	}
	a.Options.Trace = c
	a.Tracing = p
	a.Defer(func() {
		ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			level.Warn(a.Logger).Log("msg", "trace export at shutdown failed", "err", err)
		}
	})
	if p.Enabled() {
		// The sampler in force: OTEL_TRACES_SAMPLER may replace -trace-ratio.
		level.Info(a.Logger).Log(append([]any{"msg", "tracing on"}, p.Keyvals()...)...)
	}
	return nil
}

// sqlTracer is the pool's SQL tracer when tracing is on.
func (a *App) sqlTracer() postgres.Option {
	if !a.Tracing.Enabled() {
		return postgres.WithTracer(nil)
	}
	return postgres.WithTracer(tracing.NewSQLTracer())
}
