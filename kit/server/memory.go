package server

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Release of idle memory; see releaseIdleMemory.
const (
	idleCheckInterval = 10 * time.Second
	// idleFreeThreshold is how much free, unreturned heap is worth a
	// forced collection to give back.
	idleFreeThreshold = 2 << 20
)

const (
	metricGCCycles = "/gc/cycles/total:gc-cycles"
	metricHeapFree = "/memory/classes/heap/free:bytes"
)

// releaseIdleMemory gives the heap a busy spell left behind back to the
// operating system once the process has gone quiet, until stop is closed.
//
// After load, a Go process keeps the heap it grew (about 10 MiB more for
// the gateway after a few seconds at full speed) and the runtime's
// background scavenger returns it only slowly, as long as it stays within
// the collector's goal, which the busy spell set high. A service then sits
// idle at well over its working size. Every idleCheckInterval this looks at
// the runtime's metrics; when no collection has run since the last look
// (so the process allocates little: it is idle) and at least
// idleFreeThreshold of the heap is free but still held, it calls
// debug.FreeOSMemory, one forced collection. A busy process collects all
// the time and is never interrupted; an idle one pays one collection of a
// small heap.
func releaseIdleMemory(stop <-chan struct{}) {
	samples := []metrics.Sample{{Name: metricGCCycles}, {Name: metricHeapFree}}
	metrics.Read(samples)
	lastCycles := samples[0].Value.Uint64()
	t := time.NewTicker(idleCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(samples)
		cycles, free := samples[0].Value.Uint64(), samples[1].Value.Uint64()
		if cycles == lastCycles && free >= idleFreeThreshold {
			debug.FreeOSMemory()
			metrics.Read(samples)
			cycles = samples[0].Value.Uint64()
		}
		lastCycles = cycles
	}
}
