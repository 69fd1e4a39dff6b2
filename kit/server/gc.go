package server

import (
	"os"
	"runtime/debug"
)

// TuneGC sets the garbage collector's percentage and soft memory limit,
// each unless the operator has set GOGC or GOMEMLIMIT, which always win; a
// zero leaves Go's default. Opt in by calling it first thing in main, with
// values sized to the process: a service that keeps a few MiB live and
// allocates per request collects dozens of times a second under load at
// Go's default of 100, and each cycle's mark phase takes one of the
// process's Ps; a higher percentage trades memory for that CPU, and the
// limit bounds the trade. Idle memory is unaffected: Run gives the heap
// back once the process goes quiet.
func TuneGC(percent int, limit int64) {
	if _, set := os.LookupEnv("GOGC"); !set && percent > 0 {
		debug.SetGCPercent(percent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}
