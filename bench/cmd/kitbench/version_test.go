package main

// An internal test: a main package cannot be imported by an external one.

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/kitshop/kitshop/kit/version"
)

// TestRunVersion checks that -version prints the build and returns before
// looking for wrk or a stack.
func TestRunVersion(t *testing.T) {
	t.Setenv("KITBENCH_WRK", "/nonexistent/wrk")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-version"}, &stdout, io.Discard); err != nil {
		t.Fatalf("run -version = %v, want nil", err)
	}
	if want := "kitbench " + version.Get().String() + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}
