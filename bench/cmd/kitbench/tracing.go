package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/kitshop/kitshop/bench"
	"github.com/kitshop/kitshop/kit/tracing"
)

// traceRowsKey selects the tracing rows with -only.
const traceRowsKey = "gateway-get-traced"

// traceModes are the tracing rows: the gateway GET row measured on a stack
// whose every process (gateway, services, the bare handler aside) traces
// at the ratio and writes its spans to files (kit/tracing's file exporter,
// as make run does). The main rows run with tracing off.
var traceModes = []struct {
	key, name string
	ratio     float64
}{
	{"gateway-get-trace-all", "gateway: GET /api/v1/products/{id}, tracing on, every request sampled", 1},
	{"gateway-get-trace-default", fmt.Sprintf("gateway: GET /api/v1/products/{id}, tracing on, default ratio (%g)", tracing.DefaultRatio), tracing.DefaultRatio},
}

// traceRows adds the tracing rows to rep when kitbench started its own
// stack: for each mode it replaces the stack by one that traces, measures
// the gateway GET row on it, and adds the row under the mode's key. It
// returns the environment in use, for the caller to close.
func traceRows(ctx context.Context, o options, env *environment, rep *bench.Report, log io.Writer) (*environment, error) {
	if env.own == nil || !o.traceRows || (len(o.only) > 0 && !slices.Contains(o.only, traceRowsKey)) {
		return env, nil
	}
	for _, mode := range traceModes {
		fmt.Fprintf(log, "kitbench: restarting the stack with tracing at ratio %g for %s\n", mode.ratio, mode.key)
		if err := env.Close(); err != nil {
			fmt.Fprintf(log, "kitbench: stop: %v\n", err)
		}
		mo := o
		mo.traceRatio, mo.only, mo.halfRate, mo.eventRate, mo.newStack = mode.ratio, []string{"gateway-get"}, 0, 0, true
		next, err := openEnvironment(ctx, mo, log)
		if err != nil {
			return &environment{}, fmt.Errorf("tracing rows: %w", err)
		}
		env = next
		h := &harness{o: mo, env: env, log: log}
		r, err := h.measure(ctx)
		if err != nil {
			return env, fmt.Errorf("tracing rows: %w", err)
		}
		row, ok := r.Row("gateway-get")
		if !ok {
			continue
		}
		traced := *row
		traced.Key, traced.Target = mode.key, mode.name
		rep.Rows = append(rep.Rows, traced)
	}
	rep.Notes = append(rep.Notes, "the tracing rows come from stacks of their own, started with every process tracing (kit/tracing, spans written to files); the other rows run with tracing off")
	rep.Finish()
	return env, nil
}
