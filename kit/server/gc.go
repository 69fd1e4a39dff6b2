package server

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings of TuneGC.
const (
	// DefaultGCPercent lets the heap grow to five times what is live before
	// a collection. A kitshop service keeps a few MiB live and allocates
	// per request, so with Go's default of 100 it collects dozens of times
	// a second under load, and each cycle's mark phase takes one of the
	// process's Ps: on two cores that showed as the p99 through the gateway
	// (6.1 ms at half its peak, 3.9 ms with 400; peak 13.7k to 16.7k
	// requests/s; make bench, same machine).
	DefaultGCPercent = 400
	// DefaultMemoryLimit is the soft limit at which the collector works
	// harder whatever the percentage, so a larger live heap cannot grow
	// five-fold unchecked; below the 256 MiB limit of deploy/k8s.
	DefaultMemoryLimit = 192 << 20
)

// TuneGC sets DefaultGCPercent and DefaultMemoryLimit, each unless the
// operator has set GOGC or GOMEMLIMIT, which always win. Call it first
// thing in main. Idle memory is unaffected: Run gives the heap back once
// the process goes quiet.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(DefaultGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
}
