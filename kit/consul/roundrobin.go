package consul

import "sync/atomic"

// RoundRobin picks instances in turn. It is safe for concurrent use and
// lock-free: one shared counter, advanced atomically per pick, so hot request
// paths never contend on a mutex.
//
// The zero value is ready to use.
type RoundRobin struct {
	next atomic.Uint64
}

// NewRoundRobin returns a RoundRobin starting at the first instance.
func NewRoundRobin() *RoundRobin { return &RoundRobin{} }

// Next returns the next instance of instances for which skip (if not nil)
// returns false, walking on from the turn's position past skipped ones. It
// returns false when instances is empty or every instance is skipped.
//
// Pass a Watcher snapshot; because snapshots are sorted by ID, the rotation
// stays fair as instances come and go.
func (r *RoundRobin) Next(instances []Instance, skip func(Instance) bool) (Instance, bool) {
	n := uint64(len(instances))
	if n == 0 {
		return Instance{}, false
	}
	start := r.next.Add(1) - 1
	for i := range n {
		in := instances[(start+i)%n]
		if skip == nil || !skip(in) {
			return in, true
		}
	}
	return Instance{}, false
}
