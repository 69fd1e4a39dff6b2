package kitctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitshop/kitshop/kit/errs"
)

// The local stack's addresses (make run), used where neither a flag nor
// the environment says otherwise.
const (
	DefaultConsul  = "127.0.0.1:8500"
	DefaultNATS    = "nats://127.0.0.1:4222"
	DefaultGateway = "http://127.0.0.1:8080"
)

// Env is what kitctl reads from and writes to besides the network: the
// terminal's streams and the environment, so tests run it in process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// globals are the flags every command shares.
type globals struct {
	env       Env
	consul    string
	nats      string
	gateway   string
	output    string
	token     string
	timeout   time.Duration
	configDir string
}

// NewRoot returns the kitctl command tree.
func NewRoot(env Env) *cobra.Command {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	g := &globals{env: env}
	root := &cobra.Command{
		Use:   "kitctl",
		Short: "Operate a kitshop deployment: services, calls, live configuration, events",
		Long: `kitctl lists and describes the services registered in Consul, calls their gRPC
methods by name, checks their health, reads and writes their live configuration
(kitshop/config/<service>/<key> in Consul) and inspects the event broker.

Addresses come from flags, else the environment (KITCTL_CONSUL, KITCTL_NATS,
KITCTL_GATEWAY), else the local stack's (` + DefaultConsul + `, ` + DefaultNATS + `,
` + DefaultGateway + `).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetIn(env.Stdin)
	pf := root.PersistentFlags()
	pf.StringVar(&g.consul, "consul", g.envOr("KITCTL_CONSUL", g.envOr("CONSUL_HTTP_ADDR", DefaultConsul)), "Consul agent address (env KITCTL_CONSUL)")
	pf.StringVar(&g.nats, "nats", g.envOr("KITCTL_NATS", DefaultNATS), "NATS server URL (env KITCTL_NATS)")
	pf.StringVar(&g.gateway, "gateway", g.envOr("KITCTL_GATEWAY", DefaultGateway), "gateway base URL, for login (env KITCTL_GATEWAY)")
	pf.StringVarP(&g.output, "output", "o", g.envOr("KITCTL_OUTPUT", "text"), "output format: text or json (env KITCTL_OUTPUT)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "time limit of the command's requests")
	pf.StringVar(&g.token, "token", "", "access token for calls (else env KITCTL_TOKEN, else the one kitctl login stored)")
	g.configDir = g.env.Getenv("KITCTL_CONFIG_DIR")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.output != "text" && g.output != "json" {
			return fmt.Errorf("--output %q: want text or json", g.output)
		}
		return nil
	}
	root.AddCommand(
		servicesCmd(g), describeCmd(g), healthCmd(g), callCmd(g), loginCmd(g),
		configCmd(g), eventsCmd(g),
	)
	return root
}

// Execute runs kitctl with args and returns the process exit code. Errors
// are printed here: their kind and detail in text, or a JSON object.
func Execute(ctx context.Context, env Env, args []string) int {
	root := NewRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	jsonOut := false
	for i, a := range args {
		if a == "--output=json" || a == "-ojson" || ((a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json") {
			jsonOut = true
		}
	}
	if !jsonOut && env.Getenv != nil && env.Getenv("KITCTL_OUTPUT") == "json" {
		jsonOut = true
	}
	printError(env.Stderr, err, jsonOut)
	return 1
}

// exitCode ends a command with a code and no message: the command printed
// what there was to say (kitctl health).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// printError writes err with its kind (kit/errs) when it has one.
func printError(w io.Writer, err error, jsonOut bool) {
	var e *errs.Error
	if !errors.As(err, &e) {
		if jsonOut {
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"detail": err.Error()}})
			return
		}
		fmt.Fprintln(w, "kitctl:", err)
		return
	}
	problem := map[string]any{"kind": e.Kind.String(), "detail": e.Message}
	if fields := errs.FieldsOf(err); len(fields) > 0 {
		problem["fields"] = fields
	}
	if ra := errs.RetryAfterOf(err); ra > 0 {
		problem["retry_after"] = ra.String()
	}
	if jsonOut {
		_ = json.NewEncoder(w).Encode(map[string]any{"error": problem})
		return
	}
	fmt.Fprintf(w, "kitctl: %s: %s\n", e.Kind, e.Message)
	for _, f := range errs.FieldsOf(err) {
		fmt.Fprintf(w, "  %s: %s\n", f.Field, f.Message)
	}
	if ra := errs.RetryAfterOf(err); ra > 0 {
		fmt.Fprintf(w, "  retry after %s\n", ra)
	}
}

func (g *globals) envOr(key, def string) string {
	if v := g.env.Getenv(key); v != "" {
		return v
	}
	return def
}

func (g *globals) json() bool { return g.output == "json" }

// ctx bounds a command's requests by --timeout.
func (g *globals) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), g.timeout)
}

// emit writes v as indented JSON.
func (g *globals) emit(v any) error {
	enc := json.NewEncoder(g.env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned in columns.
func (g *globals) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(g.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// tokenPath is where kitctl login keeps the access token.
func (g *globals) tokenPath() (string, error) {
	dir := g.configDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no directory for the token: %w (set KITCTL_CONFIG_DIR)", err)
		}
		dir = filepath.Join(base, "kitctl")
	}
	return filepath.Join(dir, "token"), nil
}

// accessToken is --token, else KITCTL_TOKEN, else the stored one, else "".
func (g *globals) accessToken() string {
	if g.token != "" {
		return g.token
	}
	if t := g.env.Getenv("KITCTL_TOKEN"); t != "" {
		return t
	}
	if p, err := g.tokenPath(); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func jsonLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
