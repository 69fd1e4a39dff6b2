package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/kitshop/kitshop/kit/version"
)

// failAfterEnv names an environment variable for kitgen's own tests: when
// set to N, writing fails after N files, so that the test can check that the
// files written are removed again. Nobody else has a reason to set it.
const failAfterEnv = "KITGEN_TEST_FAIL_AFTER"

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		// -h: the usage is printed; not a failure.
	case err != nil:
		fmt.Fprintf(os.Stderr, "kitgen: %v\n", err)
		os.Exit(1)
	}
}

const usageText = `usage: kitgen new [-dry-run] <name>
       kitgen version

Adds the service <name> to the kitshop repository that contains the working
directory: its package in the house layers with tests, its command, its
protobuf contract and generated code, its database migration, and its entries
in the local stack, docker-compose.yml and the Kubernetes manifests.
See docs/adding-a-service.md.
`

// run is the whole program: it parses args, plans, checks and writes.
// Reports go to stdout, usage and flag errors to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return errors.New("missing command: want `new <name>`")
	}
	switch args[0] {
	case "new":
		return runNew(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "version", "-version", "--version":
		version.Print(stdout, "kitgen")
		return nil
	default:
		fmt.Fprint(stderr, usageText)
		return fmt.Errorf("unknown command %q: want `new <name>`", args[0])
	}
}

func runNew(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kitgen new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	dryRun := fs.Bool("dry-run", false, "list the files that would be created or changed, and write nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one service name: kitgen new <name>")
	}
	name := fs.Arg(0)
	// The name alone first: a bad one fails the same way everywhere,
	// inside the repository or not.
	if err := checkName(name); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := findRoot(wd)
	if err != nil {
		return err
	}
	p, err := newPlan(root, name)
	if err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintf(stdout, "kitgen would add the service %q (HTTP %d, gRPC %d); nothing written:\n", name, p.data.HTTPPort, p.data.GRPCPort)
		p.list(stdout)
		return nil
	}
	failAfter := -1
	if v := os.Getenv(failAfterEnv); v != "" {
		if failAfter, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("%s=%q: not a number", failAfterEnv, v)
		}
	}
	if err := p.apply(failAfter); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kitgen added the service %q:\n", name)
	p.list(stdout)
	fmt.Fprintln(stdout, "\nNext:")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  go test ./%s/...\tits tests (real Postgres)\n", name)
	fmt.Fprintf(tw, "  make run\tthe local stack, with %s-1 on 127.0.0.1:%d (gRPC %d)\n", name, p.data.HTTPPort, p.data.GRPCPort)
	fmt.Fprintf(tw, "  curl -s localhost:8080%s/items\tthrough the gateway, as soon as it registers\n", p.data.APIPrefix)
	fmt.Fprintf(tw, "  docs/adding-a-service.md\thow the layers fit together and how to grow them\n")
	tw.Flush()
	return nil
}
