package local

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kitshop/kitshop/internal/devenv"
)

// WriteSummary prints where everything is and commands to try it.
func (s *Stack) WriteSummary(w io.Writer) {
	pgURL := strings.Replace(s.pg.URL("postgres"), ":"+devenv.PostgresPassword+"@", "@", 1)
	fmt.Fprintf(w, "\nkitshop is running.\n\n")
	fmt.Fprintf(w, "  gateway    %s (metrics: %s)\n", s.GatewayURL(), s.GatewayMetricsURL())
	fmt.Fprintf(w, "  consul UI  %s/ui/\n", s.ConsulURL())
	fmt.Fprintf(w, "  nats       %s (JetStream, data %s; monitoring %s)\n", s.NATSURL(), s.nats.StoreDir(), s.NATSMonitorURL())
	fmt.Fprintf(w, "  postgres   %s (user %s, password %s: development only)\n", pgURL, devenv.PostgresUser, devenv.PostgresPassword)
	fmt.Fprintf(w, "  logs       %s\n", s.logDir)
	s.mu.Lock()
	for _, insts := range s.instances {
		for _, inst := range insts {
			fmt.Fprintf(w, "  %-10s http://%s (grpc %s, metrics http://%s/metrics)\n", inst.ID, inst.HTTPAddr, inst.GRPCAddr, inst.MetricsAddr)
		}
	}
	s.mu.Unlock()
	fmt.Fprintf(w, "  admin      %s / %s (development only; created at the first run, keeps its password afterwards)\n",
		s.cfg.AdminEmail, s.cfg.AdminPassword)
	fmt.Fprintf(w, "\nTry it (paste in order):\n")
	replacer := strings.NewReplacer(
		"{gateway}", s.GatewayURL(),
		"{consul}", s.ConsulURL(),
		"{nats_monitor}", s.NATSMonitorURL(),
		PlaceholderAdminEmail, inSingleQuotedJSON(s.cfg.AdminEmail),
		PlaceholderAdminPassword, inSingleQuotedJSON(s.cfg.AdminPassword),
	)
	// Titles are prose, not shell: their placeholders take the plain values.
	titles := strings.NewReplacer(
		"{gateway}", s.GatewayURL(),
		"{consul}", s.ConsulURL(),
		"{nats_monitor}", s.NATSMonitorURL(),
		PlaceholderAdminEmail, s.cfg.AdminEmail,
	)
	for _, svc := range s.cfg.Services {
		for _, ex := range svc.Examples {
			fmt.Fprintf(w, "\n  # %s\n  %s\n", titles.Replace(ex.Title), replacer.Replace(ex.Command))
		}
	}
	for _, ex := range infraExamples {
		fmt.Fprintf(w, "\n  # %s\n  %s\n", titles.Replace(ex.Title), replacer.Replace(ex.Command))
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop everything.\n")
}

// infraExamples follow the services' examples: a look at the broker, and
// at a request's trace.
var infraExamples = []Example{
	{"the event streams in JetStream: messages per stream, and each durable consumer's backlog (num_pending)",
		`curl -s '{nats_monitor}/jsz?streams=true&consumers=true'`},
	{"who is connected to the broker (one connection per instance, named by its id)",
		`curl -s '{nats_monitor}/connz' | grep -o '"name": *"[^"]*"'`},
	{"a request's trace: its id from the Trace-Id header, then its spans as a tree (written to the run folder's traces/ within a second; README: Tracing)",
		`TID=$(curl -si '{gateway}/api/v1/products?limit=1' | sed -nE 's/^[Tt]race-[Ii]d: *([0-9a-f]+).*/\1/p'); echo "TID=$TID"; sleep 2; bin/kitctl trace $TID`},
}

// inSingleQuotedJSON escapes v for the inside of a JSON string that is
// itself inside single quotes in a shell command, so that any password
// pastes correctly.
func inSingleQuotedJSON(v string) string {
	b, _ := json.Marshal(v) // a string always marshals
	return strings.ReplaceAll(string(b[1:len(b)-1]), "'", `'\''`)
}
