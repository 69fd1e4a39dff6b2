package main

// An internal test: a main package cannot be imported by an external one.

import (
	"testing"

	"github.com/zeromicro/go-zero/rest"
)

// TestConfig checks that the peer keeps go-zero's defaults but for the ones
// config's comment names, so an upgrade that changes them shows here.
func TestConfig(t *testing.T) {
	tests := []struct {
		name          string
		cpuThreshold  int64
		trace         bool
		wantThreshold int64
	}{
		{"defaults", -1, false, 900},
		{"shedding off", 0, false, 0},
		{"tracing", -1, true, 900},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config("127.0.0.1:8091", "127.0.0.1:6061", tt.trace, tt.cpuThreshold)
			if err != nil {
				t.Fatal(err)
			}
			want := rest.MiddlewaresConf{Trace: true, Log: true, Prometheus: true, MaxConns: true, Breaker: true,
				Shedding: true, Timeout: true, Recover: true, Metrics: true, MaxBytes: true, Gunzip: true}
			if c.Middlewares != want {
				t.Errorf("middlewares %+v, want all on", c.Middlewares)
			}
			if c.CpuThreshold != tt.wantThreshold {
				t.Errorf("CpuThreshold %d, want %d", c.CpuThreshold, tt.wantThreshold)
			}
			if c.Host != "127.0.0.1" || c.Port != 8091 || c.DevServer.Host != "127.0.0.1" || c.DevServer.Port != 6061 {
				t.Errorf("listening on %s:%d, dev server %s:%d", c.Host, c.Port, c.DevServer.Host, c.DevServer.Port)
			}
			if c.Mode != "pro" || c.Timeout != 3000 || c.MaxConns != 10000 || c.MaxBytes != 1<<20 || !c.DevServer.Enabled || !c.DevServer.EnableMetrics {
				t.Errorf("a go-zero default changed: mode %s, timeout %d ms, max conns %d, max bytes %d, dev server %t (metrics %t)",
					c.Mode, c.Timeout, c.MaxConns, c.MaxBytes, c.DevServer.Enabled, c.DevServer.EnableMetrics)
			}
			if c.Log.Level != "error" || c.Telemetry.Disabled == tt.trace {
				t.Errorf("log level %s, telemetry disabled %t", c.Log.Level, c.Telemetry.Disabled)
			}
		})
	}
	if _, err := config("8091", "127.0.0.1:6061", false, -1); err == nil {
		t.Error("config with -addr 8091 = nil error, want one")
	}
}
