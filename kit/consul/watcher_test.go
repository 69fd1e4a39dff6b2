package consul_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/consul"
)

// startWatcher starts a watcher on fc, stopped at the end of the test.
func startWatcher(t *testing.T, fc *fakeConsul, service string, opts ...consul.Option) *consul.Watcher {
	t.Helper()
	w := consul.NewWatcher(fc, service, testLogger(t), fast(opts...)...)
	t.Cleanup(w.Stop)
	return w
}

func ready(t *testing.T, w interface{ Ready(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestWatcherReturnsPassingInstancesSorted(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "product-b", 8082, 9082))
	fc.add(fakeInstance("product", "product-a", 8081, 9081))
	fc.add(fakeInstance("product", "product-c", 8083, 9083))
	fc.add(fakeInstance("order", "order-a", 8091, 9091))
	fc.setCritical("product-c", true)

	w := startWatcher(t, fc, "product")
	ready(t, w)

	got := w.Instances()
	want := []consul.Instance{
		{
			ID: "product-a", Service: "product", Address: "127.0.0.1", HTTPPort: 8081, GRPCPort: 9081,
			APIPrefix: "/api/v1/product", Tags: []string{"api"},
			Meta: map[string]string{"http_port": "8081", "grpc_port": "9081", "api_prefix": "/api/v1/product"},
		},
		{
			ID: "product-b", Service: "product", Address: "127.0.0.1", HTTPPort: 8082, GRPCPort: 9082,
			APIPrefix: "/api/v1/product", Tags: []string{"api"},
			Meta: map[string]string{"http_port": "8082", "grpc_port": "9082", "api_prefix": "/api/v1/product"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Instances():\n got %+v\nwant %+v", got, want)
	}
	if got, want := got[0].HTTPAddr(), "127.0.0.1:8081"; got != want {
		t.Errorf("HTTPAddr() = %q, want %q", got, want)
	}
	if got, want := got[0].GRPCAddr(), "127.0.0.1:9081"; got != want {
		t.Errorf("GRPCAddr() = %q, want %q", got, want)
	}
	if got, want := w.Service(), "product"; got != want {
		t.Errorf("Service() = %q, want %q", got, want)
	}
}

func TestWatcherFollowsChanges(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	w := startWatcher(t, fc, "product")
	ch, unsubscribe := w.Subscribe()
	defer unsubscribe()

	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"initial", func() {}, []string{"p1"}},
		{"instance added", func() { fc.add(fakeInstance("product", "p2", 8082, 9082)) }, []string{"p1", "p2"}},
		{"check fails", func() { fc.setCritical("p1", true) }, []string{"p2"}},
		{"check passes", func() { fc.setCritical("p1", false) }, []string{"p1", "p2"}},
		{"deregistered", func() { fc.remove("p2") }, []string{"p1"}},
		{"last one gone", func() { fc.remove("p1") }, []string{}},
	}
	for _, s := range steps {
		s.change()
		got := ids(receive(t, ch, 2*time.Second))
		if !slices.Equal(got, s.want) {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	// Changes elsewhere in Consul (another service) must not republish.
	fc.add(fakeInstance("order", "o1", 8091, 9091))
	select {
	case got := <-ch:
		t.Errorf("unrelated change published %v", ids(got))
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWatcherKeepsLastKnownInstancesDuringOutage(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	w := startWatcher(t, fc, "product")
	ch, unsubscribe := w.Subscribe()
	defer unsubscribe()
	receive(t, ch, 2*time.Second)

	fc.setDown(true)
	before := fc.callCount("Service")
	eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("Service") >= before+5 })

	if got, want := ids(w.Instances()), []string{"p1"}; !slices.Equal(got, want) {
		t.Errorf("Instances() during outage = %v, want %v", got, want)
	}
	select {
	case got := <-ch:
		t.Errorf("outage published %v, want nothing", ids(got))
	default:
	}

	fc.setDown(false)
	fc.add(fakeInstance("product", "p2", 8082, 9082))
	if got, want := ids(receive(t, ch, 2*time.Second)), []string{"p1", "p2"}; !slices.Equal(got, want) {
		t.Errorf("after recovery got %v, want %v", got, want)
	}
}

func TestWatcherBacksOffWhileConsulIsDown(t *testing.T) {
	fc := newFakeConsul()
	fc.setDown(true)
	w := consul.NewWatcher(fc, "product", testLogger(t), consul.WithBackoff(20*time.Millisecond, 80*time.Millisecond))
	t.Cleanup(w.Stop)

	time.Sleep(600 * time.Millisecond)
	// Delays of 10-20, 20-40, 40-80, then 40-80 ms: 8 to 17 attempts in 600 ms.
	// A hot loop would make thousands; no retry at all would make one.
	if got := fc.callCount("Service"); got < 5 || got > 25 {
		t.Errorf("queries in 600ms with backoff 20ms..80ms = %d, want 5..25", got)
	}
}

func TestWatcherResetsIndexWhenItGoesBackwards(t *testing.T) {
	const wait = 1500 * time.Millisecond
	fc := newFakeConsul()
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		fc.add(fakeInstance("product", id, 8081, 9081)) // raise the index
	}
	w := startWatcher(t, fc, "product", consul.WithWaitTime(wait))
	ch, unsubscribe := w.Subscribe()
	defer unsubscribe()
	receive(t, ch, 2*time.Second)

	// Consul restarts with an empty catalog and a fresh, lower index. The
	// watcher's pending query waits on the old index until WaitTime passes.
	fc.restart(1)
	if got := ids(receive(t, ch, wait+time.Second)); len(got) != 0 {
		t.Fatalf("after restart got %v, want no instances", got)
	}

	// Now the watcher must block on the new index, not the old one: a change
	// shows up at once instead of after another WaitTime.
	time.Sleep(100 * time.Millisecond) // let it start the next blocking query
	fc.add(fakeInstance("product", "p9", 8089, 9089))
	if got := ids(receive(t, ch, wait/3)); !slices.Equal(got, []string{"p9"}) {
		t.Errorf("after restart and registration got %v, want [p9]", got)
	}
}

func TestWatcherResyncsAtOnceAfterOutage(t *testing.T) {
	const wait = 5 * time.Second
	fc := newFakeConsul()
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		fc.add(fakeInstance("product", id, 8081, 9081)) // raise the index
	}
	// No recovery grace: this is about the index, not about p1..p5 being
	// kept while the restarted agent does not list them.
	w := startWatcher(t, fc, "product", consul.WithWaitTime(wait), consul.WithRecoveryGrace(0))
	ch, unsubscribe := w.Subscribe()
	defer unsubscribe()
	receive(t, ch, 2*time.Second)

	fc.setDown(true)
	before := fc.callCount("Service")
	eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("Service") >= before+2 })
	// Consul comes back restarted: lower index, different state. A query on
	// the old index would wait a whole WaitTime to find out.
	fc.restart(1)
	fc.add(fakeInstance("product", "p9", 8089, 9089))
	if got := ids(receive(t, ch, time.Second)); !slices.Equal(got, []string{"p9"}) {
		t.Errorf("after restart got %v, want [p9]", got)
	}
}

func TestWatcherRecoveryGrace(t *testing.T) {
	const grace = 500 * time.Millisecond
	// restarted brings up an empty, restarted Consul after an outage.
	restarted := func(t *testing.T) (*fakeConsul, *consul.Watcher, <-chan []consul.Instance) {
		t.Helper()
		fc := newFakeConsul()
		fc.add(fakeInstance("product", "p1", 8081, 9081))
		w := startWatcher(t, fc, "product", consul.WithRecoveryGrace(grace))
		ch, unsubscribe := w.Subscribe()
		t.Cleanup(unsubscribe)
		receive(t, ch, 2*time.Second)

		fc.setDown(true)
		before := fc.callCount("Service")
		eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("Service") >= before+2 })
		fc.restart(1)
		eventually(t, time.Second, "query to the restarted agent", func() bool {
			return fc.callCount("Service") >= before+4
		})
		return fc, w, ch
	}

	t.Run("empty answer ignored until the instance is back", func(t *testing.T) {
		fc, w, ch := restarted(t)
		time.Sleep(grace / 2)
		if got := ids(w.Instances()); !slices.Equal(got, []string{"p1"}) {
			t.Fatalf("Instances() = %v during the grace, want the last known [p1]", got)
		}
		fc.add(fakeInstance("product", "p1", 8081, 9081)) // registers again
		time.Sleep(100 * time.Millisecond)
		// A real answer ends the grace: a removal now is believed at once.
		fc.remove("p1")
		if got := ids(receive(t, ch, grace/2)); len(got) != 0 {
			t.Errorf("after removal got %v, want none", got)
		}
	})

	t.Run("lasting empty answer published when the grace ends", func(t *testing.T) {
		_, _, ch := restarted(t)
		start := time.Now()
		if got := ids(receive(t, ch, 3*grace)); len(got) != 0 {
			t.Fatalf("got %v, want none", got)
		}
		if took := time.Since(start); took < grace/2 {
			t.Errorf("empty set published after %v, want it held for about %v", took, grace)
		}
	})

	t.Run("partial answer completed from the last known until all are back", func(t *testing.T) {
		fc := newFakeConsul()
		fc.add(fakeInstance("product", "p1", 8081, 9081))
		fc.add(fakeInstance("product", "p2", 8082, 9082))
		w := startWatcher(t, fc, "product", consul.WithRecoveryGrace(time.Hour))
		ch, unsubscribe := w.Subscribe()
		defer unsubscribe()
		receive(t, ch, 2*time.Second)
		fc.setDown(true)
		before := fc.callCount("Service")
		eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("Service") >= before+2 })
		// The restarted agent hears from p2 and a new p3 first; p1 is
		// still on its way.
		fc.restart(1)
		fc.add(fakeInstance("product", "p2", 8082, 9082))
		fc.add(fakeInstance("product", "p3", 8083, 9083))
		eventually(t, 2*time.Second, "p3 published", func() bool { return slices.Contains(ids(w.Instances()), "p3") })
		if got, want := ids(w.Instances()), []string{"p1", "p2", "p3"}; !slices.Equal(got, want) {
			t.Fatalf("Instances() = %v during the grace, want %v (p1 kept)", got, want)
		}
		// Once p1 is back the grace is over: a removal is believed at once.
		fc.add(fakeInstance("product", "p1", 8081, 9081))
		time.Sleep(100 * time.Millisecond)
		fc.remove("p2")
		eventually(t, 2*time.Second, "p2 removed", func() bool { return slices.Equal(ids(w.Instances()), []string{"p1", "p3"}) })
	})

	t.Run("lasting partial answer published when the grace ends", func(t *testing.T) {
		fc, w, _ := restarted(t)
		fc.add(fakeInstance("product", "p2", 8082, 9082))
		start := time.Now()
		eventually(t, 3*grace, "p1 dropped", func() bool { return slices.Equal(ids(w.Instances()), []string{"p2"}) })
		if took := time.Since(start); took < grace/2 {
			t.Errorf("p1 dropped after %v, want it kept for about %v", took, grace)
		}
	})

	t.Run("answer after an outage of the same agent taken at once", func(t *testing.T) {
		fc := newFakeConsul()
		fc.add(fakeInstance("product", "p1", 8081, 9081))
		fc.add(fakeInstance("product", "p2", 8082, 9082))
		w := startWatcher(t, fc, "product", consul.WithRecoveryGrace(time.Hour))
		ch, unsubscribe := w.Subscribe()
		defer unsubscribe()
		receive(t, ch, 2*time.Second)
		fc.setDown(true)
		before := fc.callCount("Service")
		eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("Service") >= before+2 })
		fc.setDown(false) // back with everything: nothing to wait for
		eventually(t, 2*time.Second, "query after the outage", func() bool { return fc.callCount("Service") >= before+4 })
		fc.remove("p1")
		eventually(t, 2*time.Second, "p1 removed", func() bool { return slices.Equal(ids(w.Instances()), []string{"p2"}) })
	})
}

func TestWatcherDoesNotSpinOnZeroIndex(t *testing.T) {
	fc := newFakeConsul()
	fc.set(func(f *fakeConsul) { f.zeroIndex = true })
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	w := startWatcher(t, fc, "product", consul.WithWaitTime(300*time.Millisecond))
	ready(t, w)

	time.Sleep(time.Second)
	// The watcher must block on index 1, so each query waits 300ms: about 4
	// queries. Blocking on 0 would return at once every time.
	if got := fc.callCount("Service"); got > 8 {
		t.Errorf("queries in 1s with a zero index = %d, want at most 8", got)
	}
}

func TestSubscribeLatestWins(t *testing.T) {
	fc := newFakeConsul()
	w := startWatcher(t, fc, "product")
	ready(t, w)
	ch, unsubscribe := w.Subscribe()
	defer unsubscribe()
	if got := ids(receive(t, ch, time.Second)); len(got) != 0 {
		t.Fatalf("first snapshot = %v, want empty", got)
	}

	// The subscriber is not reading: three changes must not block the
	// watcher, and only the last must be waiting in the channel.
	for _, id := range []string{"p1", "p2", "p3"} {
		fc.add(fakeInstance("product", id, 8081, 9081))
		eventually(t, 2*time.Second, id+" seen", func() bool { return slices.Contains(ids(w.Instances()), id) })
	}
	if got, want := ids(receive(t, ch, time.Second)), []string{"p1", "p2", "p3"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want the latest %v", got, want)
	}
	select {
	case got := <-ch:
		t.Errorf("backlog: also received %v", ids(got))
	default:
	}
}

func TestUnsubscribe(t *testing.T) {
	fc := newFakeConsul()
	w := startWatcher(t, fc, "product")
	ready(t, w)
	ch, unsubscribe := w.Subscribe()
	receive(t, ch, time.Second)
	unsubscribe()
	unsubscribe() // idempotent
	if _, ok := <-ch; ok {
		t.Error("channel still open after unsubscribe")
	}
	fc.add(fakeInstance("product", "p1", 8081, 9081)) // must not panic sending on a closed channel
	eventually(t, 2*time.Second, "p1 seen", func() bool { return len(w.Instances()) == 1 })
}

func TestWatcherStop(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	w := consul.NewWatcher(fc, "product", testLogger(t), fast()...)
	ready(t, w)
	ch, _ := w.Subscribe()
	receive(t, ch, time.Second)

	w.Stop()
	w.Stop() // idempotent
	if _, ok := <-ch; ok {
		t.Error("subscription still open after Stop")
	}
	late, unsubscribe := w.Subscribe()
	unsubscribe()
	if _, ok := <-late; ok {
		t.Error("Subscribe after Stop returned an open channel")
	}
	if got := ids(w.Instances()); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("Instances() after Stop = %v, want the last snapshot [p1]", got)
	}
	calls := fc.callCount("Service")
	fc.add(fakeInstance("product", "p2", 8082, 9082))
	time.Sleep(50 * time.Millisecond)
	if got := fc.callCount("Service"); got != calls {
		t.Errorf("%d queries after Stop, want 0", got-calls)
	}
}

func TestWatcherReady(t *testing.T) {
	t.Run("context ends first", func(t *testing.T) {
		fc := newFakeConsul()
		fc.setDown(true)
		w := startWatcher(t, fc, "product")
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := w.Ready(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Ready() = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("stopped first", func(t *testing.T) {
		fc := newFakeConsul()
		fc.setDown(true)
		w := startWatcher(t, fc, "product")
		w.Stop()
		if err := w.Ready(context.Background()); !errors.Is(err, consul.ErrStopped) {
			t.Errorf("Ready() = %v, want ErrStopped", err)
		}
	})
	t.Run("after Consul comes up", func(t *testing.T) {
		fc := newFakeConsul()
		fc.setDown(true)
		w := startWatcher(t, fc, "product")
		time.Sleep(30 * time.Millisecond)
		fc.setDown(false)
		ready(t, w)
	})
}
