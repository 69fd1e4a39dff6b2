package consul

import (
	"slices"
	"sync"

	"github.com/go-kit/kit/sd"
)

// instancer adapts a Watcher to go-kit's sd.Instancer.
type instancer struct {
	addr        func(Instance) string
	unsubscribe func()
	done        chan struct{}
	stopOnce    sync.Once

	mu    sync.Mutex
	state sd.Event
	regs  map[chan<- sd.Event]struct{}
}

// NewInstancer adapts w to go-kit's sd.Instancer, so that sd.NewEndpointer
// and the lb balancers can be used on Consul instances. addr turns an
// instance into the address the endpoint factory receives, typically
// Instance.HTTPAddr or Instance.GRPCAddr (nil means HTTPAddr); instances for
// which it returns "" are left out.
//
// Events never carry errors: the Watcher keeps the last known instances
// while Consul is unreachable, which is what go-kit's endpointer would do
// anyway. Like go-kit's own instancers, it sends to registered channels
// synchronously, so they must be read until deregistered.
//
// Stop ends the adapter only; the Watcher is the caller's to stop.
func NewInstancer(w *Watcher, addr func(Instance) string) sd.Instancer {
	if addr == nil {
		addr = Instance.HTTPAddr
	}
	ch, unsubscribe := w.Subscribe()
	in := &instancer{
		addr:        addr,
		unsubscribe: unsubscribe,
		done:        make(chan struct{}),
		regs:        make(map[chan<- sd.Event]struct{}),
	}
	// Take the current snapshot now if there is one, so that a Register
	// right after NewInstancer sees it rather than an empty set.
	select {
	case snap, ok := <-ch:
		if ok {
			in.state = in.event(snap)
		}
	default:
	}
	go in.loop(ch)
	return in
}

func (in *instancer) loop(ch <-chan []Instance) {
	defer close(in.done)
	for snap := range ch {
		in.update(in.event(snap))
	}
}

func (in *instancer) event(snap []Instance) sd.Event {
	addrs := make([]string, 0, len(snap))
	for _, i := range snap {
		if a := in.addr(i); a != "" {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	return sd.Event{Instances: slices.Compact(addrs)}
}

func (in *instancer) update(ev sd.Event) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if slices.Equal(in.state.Instances, ev.Instances) {
		return // e.g. only the gRPC port changed and we publish HTTP addresses
	}
	in.state = ev
	for ch := range in.regs {
		ch <- copyEvent(ev)
	}
}

// Register implements sd.Instancer: ch receives the current set at once and
// every change after.
func (in *instancer) Register(ch chan<- sd.Event) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.regs[ch] = struct{}{}
	ch <- copyEvent(in.state)
}

// Deregister implements sd.Instancer; after it returns nothing more is sent
// to ch.
func (in *instancer) Deregister(ch chan<- sd.Event) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.regs, ch)
}

// Stop implements sd.Instancer: it ends the subscription to the Watcher.
func (in *instancer) Stop() {
	in.stopOnce.Do(in.unsubscribe)
	<-in.done
}

// copyEvent gives every listener its own slice: go-kit listeners may sort or
// otherwise modify the instances they receive.
func copyEvent(ev sd.Event) sd.Event {
	ev.Instances = slices.Clone(ev.Instances)
	return ev
}
