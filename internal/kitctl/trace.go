package kitctl

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

// DefaultTraceDir is where make run's processes write their spans
// (deploy/local: <run folder>/traces), relative to the repository.
const DefaultTraceDir = ".run/traces"

func traceCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "trace TRACE_ID",
		Short: "Print a trace's spans as a tree, from the trace files of make run",
		Long: `Print the spans of one trace, read from the JSON lines every process of the
local stack writes (kit/tracing, -trace-dir), as a tree: service, span, duration,
start offset from the first span, and the error kind of a failed one. The id is
the 32 hex digits of a response's Trace-Id header. With compose or Kubernetes,
traces go to Jaeger instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			id := strings.ToLower(args[0])
			if !tracefile.ValidID(id) {
				return errs.Errorf(errs.Invalid, "trace id %q: want the 32 hex digits of a Trace-Id header", id)
			}
			err := tracefile.Show(g.env.Stdout, dir, id, g.output)
			if errors.Is(err, tracefile.ErrNotFound) {
				return errs.Wrap(err, errs.NotFound, "no span of trace "+id+" in "+dir+" (spans reach the files within a second of the request)")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", g.envOr("KITCTL_TRACE_DIR", DefaultTraceDir), "directory of the trace files (env KITCTL_TRACE_DIR)")
	return cmd
}
