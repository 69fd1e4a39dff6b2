// Command kustomize-build prints the manifests of a kustomization, as
// `kubectl kustomize DIR` does, for machines without kubectl:
//
//	cd deploy/validate && go run ./cmd/kustomize-build ../k8s/overlays/local
//
// With -check it also decodes every resource strictly into the Kubernetes
// API types (the check deploy/validate's tests make) and prints nothing on
// success.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kitshop/kitshop/deploy/validate"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kustomize-build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "decode every resource strictly instead of printing the build")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kustomize-build [-check] DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	rm, err := validate.Build(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *check {
		if _, err := validate.Decode(rm); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	out, err := rm.AsYaml()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
