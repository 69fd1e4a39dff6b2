package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestFlags(t *testing.T) {
	base := []string{"-database-url", "postgres://x@127.0.0.1/web"}
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string // "" means valid
	}{
		{"defaults", nil, ""},
		{"a cookie secret", []string{"-cookie-secret", strings.Repeat("s", 32)}, ""},
		{"a short cookie secret", []string{"-cookie-secret", "short"}, "-cookie-secret must be at least 32 characters"},
		{"no product service", []string{"-product-service", ""}, "must not be empty"},
		{"gRPC is off by default", []string{"-grpc-addr", ""}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f flags
			o, err := app.Parse(spec(&f), append(base, tt.args...), io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse: %v, want an error mentioning %q", err, tt.wantErr)
			case tt.wantErr == "" && o.GRPCAddr != "":
				t.Errorf("-grpc-addr defaults to %q, want none: the storefront serves pages only", o.GRPCAddr)
			}
		})
	}
}

// TestBuildNeedsConsul: the storefront finds every service in Consul, so
// it refuses to start without it rather than answer every page with 503.
func TestBuildNeedsConsul(t *testing.T) {
	t.Setenv("KITSHOP_DEV", "1") // the test database has the development credentials
	_, err := build(context.Background(), []string{"-database-url", testenv.Database(t), "-consul-addr", "",
		"-jwks-url", "http://127.0.0.1:1/.well-known/jwks.json", "-http-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, io.Discard)
	if !errors.Is(err, errNoConsul) {
		t.Fatalf("build without Consul: %v, want errNoConsul", err)
	}
}
