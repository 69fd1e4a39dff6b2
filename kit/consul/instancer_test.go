package consul_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/consul"
)

func TestInstancerWithGoKitBalancer(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	fc.add(fakeInstance("product", "p2", 8082, 9082))
	w := startWatcher(t, fc, "product")
	ready(t, w)

	instancer := consul.NewInstancer(w, consul.Instance.GRPCAddr)
	defer instancer.Stop()
	factory := func(addr string) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) { return addr, nil }, nil, nil
	}
	endpointer := sd.NewEndpointer(instancer, factory, log.NewNopLogger())
	defer endpointer.Close()
	balancer := lb.NewRoundRobin(endpointer)
	// The endpointer applies events on its own goroutine.
	eventually(t, 2*time.Second, "two endpoints", func() bool {
		eps, _ := endpointer.Endpoints()
		return len(eps) == 2
	})

	callAll := func(n int) []string {
		t.Helper()
		var got []string
		for range n {
			e, err := balancer.Endpoint()
			if err != nil {
				t.Fatalf("Endpoint: %v", err)
			}
			addr, _ := e(context.Background(), nil)
			got = append(got, addr.(string))
		}
		slices.Sort(got)
		return slices.Compact(got)
	}
	if got, want := callAll(4), []string{"127.0.0.1:9081", "127.0.0.1:9082"}; !slices.Equal(got, want) {
		t.Errorf("balanced over %v, want %v", got, want)
	}

	fc.add(fakeInstance("product", "p3", 8083, 9083))
	fc.add(fakeInstance("product", "no-grpc", 8084, 0)) // no gRPC address: left out
	eventually(t, 2*time.Second, "three endpoints", func() bool {
		eps, _ := endpointer.Endpoints()
		return len(eps) == 3
	})
	if got, want := callAll(6), []string{"127.0.0.1:9081", "127.0.0.1:9082", "127.0.0.1:9083"}; !slices.Equal(got, want) {
		t.Errorf("balanced over %v, want %v", got, want)
	}
}

func TestInstancerEvents(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	w := startWatcher(t, fc, "product")
	ready(t, w)
	instancer := consul.NewInstancer(w, nil) // nil: HTTP addresses

	events := make(chan sd.Event, 1)
	instancer.Register(events)
	if got, want := receive(t, events, time.Second).Instances, []string{"127.0.0.1:8081"}; !slices.Equal(got, want) {
		t.Errorf("on Register got %v, want %v", got, want)
	}

	fc.add(fakeInstance("product", "p2", 8082, 9082))
	if got, want := receive(t, events, 2*time.Second).Instances, []string{"127.0.0.1:8081", "127.0.0.1:8082"}; !slices.Equal(got, want) {
		t.Errorf("after change got %v, want %v", got, want)
	}

	instancer.Deregister(events)
	fc.remove("p1")
	eventually(t, 2*time.Second, "p1 gone", func() bool { return len(w.Instances()) == 1 })
	time.Sleep(50 * time.Millisecond)
	select {
	case ev := <-events:
		t.Errorf("event %v after Deregister", ev)
	default:
	}
	instancer.Stop()
	instancer.Stop()
}

func TestInstancerConcurrentRegistration(t *testing.T) {
	fc := newFakeConsul()
	w := startWatcher(t, fc, "product")
	instancer := consul.NewInstancer(w, nil)
	defer instancer.Stop()

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ch := make(chan sd.Event, 1)
			go func() {
				for range ch {
				}
			}()
			instancer.Register(ch)
			time.Sleep(time.Duration(i) * 5 * time.Millisecond)
			instancer.Deregister(ch)
			close(ch)
		})
	}
	for i := range 5 {
		fc.add(fakeInstance("product", "p"+itoa(i), 8080+i, 9080+i))
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
}
