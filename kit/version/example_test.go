package version_test

import (
	"flag"
	"os"

	"github.com/kitshop/kitshop/kit/version"
)

// A command defines -version next to its other flags and, when it is
// given, prints the build and exits 0 before doing anything else.
func ExampleFlag() {
	fs := flag.NewFlagSet("mytool", flag.ContinueOnError)
	showVersion := version.Flag(fs)
	_ = fs.Parse([]string{"-version"})
	if *showVersion {
		version.Print(os.Stdout, "mytool") // mytool devel (commit …, built …, go1.26.8)
		return
	}
}
