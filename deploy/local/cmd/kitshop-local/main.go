// Command kitshop-local runs the whole kitshop system on this machine —
// PostgreSQL, Consul, NATS with JetStream, every service and the gateway —
// in the foreground, and stops all of it on Ctrl-C (SIGINT) or SIGTERM.
// `make run` builds the binaries and starts it.
//
// Logs of every process go to .run/logs/<name>.log; the database, the
// JetStream streams (.run/nats) and the user service's token signing key
// (.run/keys) are kept between runs.
//
// The user service creates an admin account at its first start:
// admin@kitshop.local with the password kitshop-admin-pw, or -admin-email
// and the password in the environment variable KITSHOP_ADMIN_PASSWORD (not a
// flag: command lines are visible to every user of the machine). The
// banner prints them; the stack is for development only.
//
// The order service reserves stock as the service account "order"; its
// secret is generated at each start and reaches the user and order services
// through their environment (USER_SERVICE_ACCOUNTS, ORDER_SERVICE_SECRET).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/version"
)

// adminPasswordEnv names the environment variable with the password of the
// bootstrapped admin account.
const adminPasswordEnv = "KITSHOP_ADMIN_PASSWORD"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "kitshop-local: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := local.DefaultConfig()
	fs := flag.NewFlagSet("kitshop-local", flag.ContinueOnError)
	fs.IntVar(&cfg.GatewayPort, "gateway-port", cfg.GatewayPort, "gateway HTTP port on 127.0.0.1 (0: any free port)")
	fs.IntVar(&cfg.ConsulPort, "consul-port", cfg.ConsulPort, "Consul HTTP port on 127.0.0.1 (0: any free port)")
	fs.IntVar(&cfg.PostgresPort, "postgres-port", cfg.PostgresPort, "PostgreSQL port on 127.0.0.1 (0: any free port)")
	fs.IntVar(&cfg.NATSPort, "nats-port", cfg.NATSPort, "NATS client port on 127.0.0.1 (0: any free port)")
	fs.IntVar(&cfg.NATSMonitorPort, "nats-monitor-port", cfg.NATSMonitorPort, "NATS monitoring port on 127.0.0.1 (0: any free port)")
	fs.StringVar(&cfg.NATSStoreDir, "nats-data-dir", "", "JetStream storage directory, kept between runs (default: .run/nats)")
	fs.StringVar(&cfg.PostgresDataDir, "postgres-data-dir", "", "PostgreSQL data directory, kept between runs (default: .run/pgdata, or /tmp/kitshop-<hash>/pgdata as root)")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "directory with the service and gateway binaries (default: <repo>/bin)")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 60*time.Second, "how long services and gateway may take to become ready")
	fs.StringVar(&cfg.AdminEmail, "admin-email", cfg.AdminEmail, "email of the admin account created at the first run (its password: $"+adminPasswordEnv+", default "+local.DefaultAdminPassword+")")
	showVersion := version.Flag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		version.Print(os.Stdout, "kitshop-local")
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if pw, ok := os.LookupEnv(adminPasswordEnv); ok {
		cfg.AdminPassword = pw
	}
	cfg.Progress = os.Stdout

	// Children run in their own process groups, so a Ctrl-C reaches only
	// us and we stop them in order.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	fmt.Println("starting the kitshop local stack...")
	stack, err := local.Start(ctx, cfg)
	if err != nil {
		return err
	}
	stack.WriteSummary(os.Stdout)

	// Instances, PostgreSQL, Consul and NATS that die are restarted, as compose
	// or Kubernetes would; only the gateway dying ends the stack.
	waitErr := stack.Supervise(ctx)
	// From here a second Ctrl-C kills us at once; the children still get
	// their parent-death signal and shut down.
	stopSignals()
	if waitErr != nil {
		fmt.Fprintf(os.Stderr, "\n%v\n", waitErr)
	}
	fmt.Println("\nstopping: gateway, services, nats, consul, postgres...")
	if err := stack.Stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Println("stopped.")
	if waitErr != nil {
		return fmt.Errorf("the stack could not keep running; see %s", stack.LogDir())
	}
	return nil
}
