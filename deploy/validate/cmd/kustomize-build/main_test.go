package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	// The base: overlays/local needs the secrets kitshop-secrets generates,
	// which a checkout does not have.
	const local = "../../../k8s/base"
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{name: "build", args: []string{local}, want: 0, wantStdout: "kind: Deployment"},
		{name: "check", args: []string{"-check", local}, want: 0},
		{name: "missing directory", args: []string{"../nope"}, want: 1, wantStderr: "kustomize build ../nope"},
		{name: "no directory", args: nil, want: 2, wantStderr: "usage: kustomize-build"},
		{name: "bad flag", args: []string{"-x", local}, want: 2, wantStderr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("exit code = %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout does not contain %q", tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.name == "check" && stdout.Len() > 0 {
				t.Errorf("-check printed %d bytes", stdout.Len())
			}
		})
	}
}
