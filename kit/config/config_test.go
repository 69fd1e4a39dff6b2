package config_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/config"
)

type settings struct {
	HTTPAddr    string
	ConsulAddr  string
	Seed        bool
	Drain       time.Duration
	RateLimit   float64
	DatabaseURL string
}

func newFlagSet(s *settings) *flag.FlagSet {
	fs := flag.NewFlagSet("product", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.HTTPAddr, "http-addr", ":8081", "HTTP listen address")
	fs.StringVar(&s.ConsulAddr, "consul-addr", "127.0.0.1:8500", "Consul agent address")
	fs.BoolVar(&s.Seed, "seed", false, "apply seed data")
	fs.DurationVar(&s.Drain, "drain-timeout", 15*time.Second, "drain timeout")
	fs.Float64Var(&s.RateLimit, "rate-limit", 100, "requests per second")
	fs.StringVar(&s.DatabaseURL, "database-url", "", "Postgres URL")
	return fs
}

var defaults = settings{HTTPAddr: ":8081", ConsulAddr: "127.0.0.1:8500", Drain: 15 * time.Second, RateLimit: 100}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    settings
		wantErr string // substring; "" means success
	}{
		{name: "defaults", want: defaults},
		{name: "env over default",
			env: map[string]string{"PRODUCT_HTTP_ADDR": ":9000", "PRODUCT_SEED": "true", "PRODUCT_DRAIN_TIMEOUT": "2s",
				"PRODUCT_DATABASE_URL": "postgres://x/y"},
			want: settings{HTTPAddr: ":9000", ConsulAddr: "127.0.0.1:8500", Seed: true, Drain: 2 * time.Second, RateLimit: 100,
				DatabaseURL: "postgres://x/y"}},
		{name: "flag over env",
			env:  map[string]string{"PRODUCT_HTTP_ADDR": ":9000", "PRODUCT_RATE_LIMIT": "5"},
			args: []string{"-http-addr", ":7000"},
			want: settings{HTTPAddr: ":7000", ConsulAddr: "127.0.0.1:8500", Drain: 15 * time.Second, RateLimit: 5}},
		{name: "empty env value is a setting",
			env:  map[string]string{"PRODUCT_CONSUL_ADDR": ""},
			want: settings{HTTPAddr: ":8081", Drain: 15 * time.Second, RateLimit: 100}},
		{name: "flag set to its default still wins",
			env:  map[string]string{"PRODUCT_SEED": "true"},
			args: []string{"-seed=false"},
			want: defaults},
		{name: "other prefixes are ignored",
			env:  map[string]string{"GATEWAY_HTTP_ADDR": ":1", "HTTP_ADDR": ":2"},
			want: defaults},
		{name: "bad env value names the variable",
			env:     map[string]string{"PRODUCT_DRAIN_TIMEOUT": "soon"},
			wantErr: "environment variable PRODUCT_DRAIN_TIMEOUT (for -drain-timeout)"},
		{name: "bad env values are all reported",
			env:     map[string]string{"PRODUCT_SEED": "maybe", "PRODUCT_RATE_LIMIT": "lots"},
			wantErr: "PRODUCT_RATE_LIMIT"},
		{name: "bad flag", args: []string{"-drain-timeout", "soon"}, wantErr: "invalid value"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got settings
			err := config.Parse(newFlagSet(&got), "PRODUCT", tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrorDoesNotRepeatValue(t *testing.T) {
	t.Setenv("PRODUCT_RATE_LIMIT", "hunter2")
	var s settings
	err := config.Parse(newFlagSet(&s), "PRODUCT", nil)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	// strconv's own message quotes the value; ours must not add more.
	if got := strings.Count(err.Error(), "hunter2"); got > 1 {
		t.Errorf("error %q repeats the value %d times", err, got)
	}
}

func TestParseHelp(t *testing.T) {
	var s settings
	if err := config.Parse(newFlagSet(&s), "PRODUCT", []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Parse(-h) = %v, want flag.ErrHelp", err)
	}
}

func TestEnvName(t *testing.T) {
	tests := []struct {
		prefix, flag, want string
	}{
		{"PRODUCT", "database-url", "PRODUCT_DATABASE_URL"},
		{"PRODUCT_", "http-addr", "PRODUCT_HTTP_ADDR"},
		{"gateway", "rate.burst", "GATEWAY_RATE_BURST"},
		{"", "seed", "SEED"},
	}
	for _, tt := range tests {
		if got := config.EnvName(tt.prefix, tt.flag); got != tt.want {
			t.Errorf("EnvName(%q, %q) = %q, want %q", tt.prefix, tt.flag, got, tt.want)
		}
	}
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "missing", wantErr: "missing required setting: -database-url (or PRODUCT_DATABASE_URL)"},
		{name: "from env", env: map[string]string{"PRODUCT_DATABASE_URL": "postgres://db/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var s settings
			fs := newFlagSet(&s)
			if err := config.Parse(fs, "PRODUCT", nil); err != nil {
				t.Fatal(err)
			}
			err := config.Require(fs, "PRODUCT", "database-url", "http-addr")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Require error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}
