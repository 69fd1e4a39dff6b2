// Command printversion prints what kit/version says, for the test that
// links it with -ldflags -X.
package main

import (
	"os"

	"github.com/kitshop/kitshop/kit/version"
)

func main() { version.Print(os.Stdout, "printversion") }
