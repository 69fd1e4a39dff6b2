package main

// An internal test: a main package cannot be imported by an external one.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComparePeer checks when a peer's row is measured and what the report
// notes about its body.
func TestComparePeer(t *testing.T) {
	bare := []byte(`{"id":"x"}` + "\n")
	tests := []struct {
		name     string
		status   int
		body     []byte
		err      error
		wantNote string
		wantNA   string
	}{
		{"same bytes", http.StatusOK, []byte(`{"id":"x"}` + "\n"), nil, "the bare handler and the peer return the same 11-byte body", ""},
		{"no newline", http.StatusOK, []byte(`{"id":"x"}`), nil, "the bare handler's body (11 bytes) differs from the peer's (10 bytes)", ""},
		{"not found", http.StatusNotFound, []byte(`{"error":"product not found"}` + "\n"), nil, "", `GET answered 404: {"error":"product not found"}`},
		{"no answer", 0, nil, errors.New("connection refused"), "", "GET failed: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			note, na := comparePeer("the peer", bare, tt.status, tt.body, tt.err)
			if note != tt.wantNote {
				t.Errorf("note %q, want %q", note, tt.wantNote)
			}
			if na != tt.wantNA {
				t.Errorf("na %q, want %q", na, tt.wantNA)
			}
		})
	}
}

// TestStartGoZero checks that a peer which is not wanted, not built or
// exits at start leaves the run going, with the reason for its row.
func TestStartGoZero(t *testing.T) {
	tests := []struct {
		name   string
		only   []string
		script string // bin/gozero-peer; "" for none
		wantNA []string
	}{
		{"not selected", []string{"bare"}, "", nil},
		{"not built", nil, "", []string{"gozero-peer not built", "make bench"}},
		{"exits", []string{"bare", gozeroKey}, "#!/bin/sh\necho 'gozero-peer: database: connection refused' >&2\nexit 1\n",
			[]string{"did not start: gozero exited (exit status 1) before GET /healthz answered: gozero-peer: database: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options{root: t.TempDir(), binDir: t.TempDir(), only: tt.only}
			if tt.script != "" {
				if err := os.WriteFile(filepath.Join(o.binDir, gozeroBinary), []byte(tt.script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env := &environment{productDB: "postgres://127.0.0.1:1/product"}
			if err := env.startGoZero(context.Background(), o, io.Discard); err != nil {
				t.Fatalf("startGoZero = %v, want nil", err)
			}
			defer env.Close()
			if env.gozero != nil || env.gozeroURL != "" {
				t.Errorf("peer running at %q, want none", env.gozeroURL)
			}
			if len(tt.wantNA) == 0 && env.gozeroNA != "" {
				t.Errorf("na %q, want none", env.gozeroNA)
			}
			for _, want := range tt.wantNA {
				if !strings.Contains(env.gozeroNA, want) {
					t.Errorf("na %q, want it to contain %q", env.gozeroNA, want)
				}
			}
		})
	}
}

// TestLastLine checks the log line a helper's start error quotes.
func TestLastLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"trailing newlines", "==> started\nbare: database: refused\n\n", "bare: database: refused"},
		{"one line", "only", "only"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lastLine(tt.in); got != tt.want {
				t.Errorf("lastLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
