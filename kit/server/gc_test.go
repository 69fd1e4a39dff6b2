package server_test

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/kitshop/kitshop/kit/server"
)

func TestTuneGC(t *testing.T) {
	restorePercent := debug.SetGCPercent(100)
	restoreLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(restorePercent); debug.SetMemoryLimit(restoreLimit) })

	// The runtime reads GOGC and GOMEMLIMIT at start; here they only decide
	// whether TuneGC keeps its hands off, so each case starts from the
	// runtime's defaults (100, no limit) and checks what TuneGC changed.
	cases := []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{name: "defaults", wantPercent: 400, wantLimit: 192 << 20},
		{name: "operator's GOGC wins", env: map[string]string{"GOGC": "150"}, wantPercent: 100, wantLimit: 192 << 20},
		{name: "operator's GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "1GiB"}, wantPercent: 400, wantLimit: math.MaxInt64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
				t.Setenv(name, "") // restored after the test
				if v, ok := tc.env[name]; ok {
					os.Setenv(name, v)
				} else {
					os.Unsetenv(name)
				}
			}
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)

			server.TuneGC(400, 192<<20)

			percent := debug.SetGCPercent(100)
			if percent != tc.wantPercent {
				t.Errorf("GC percent = %d, want %d", percent, tc.wantPercent)
			}
			if limit := debug.SetMemoryLimit(-1); limit != tc.wantLimit {
				t.Errorf("memory limit = %d, want %d", limit, tc.wantLimit)
			}
		})
	}
}
