package consul_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/hashicorp/consul/api"

	"github.com/kitshop/kitshop/kit/consul"
)

// errDown is what the fake returns while "Consul" is unreachable.
var errDown = errors.New("dial tcp 127.0.0.1:8500: connect: connection refused")

// fakeConsul is an in-memory consul.Client with real blocking-query
// semantics: a query with WaitIndex > 0 waits until the index moves past it,
// the agent goes down, ctx ends, or WaitTime elapses.
type fakeConsul struct {
	mu          sync.Mutex
	index       uint64
	services    map[string]*api.AgentServiceRegistration // by instance ID
	critical    map[string]bool                          // instance IDs failing their checks
	down        bool
	zeroIndex   bool  // report index 0, like a buggy Consul
	registerErr error // returned by every Register while set
	changed     chan struct{}
	calls       map[string]int
}

var _ consul.Client = (*fakeConsul)(nil)

func newFakeConsul() *fakeConsul {
	return &fakeConsul{
		index:    1,
		services: make(map[string]*api.AgentServiceRegistration),
		critical: make(map[string]bool),
		changed:  make(chan struct{}),
		calls:    make(map[string]int),
	}
}

// notify wakes every blocked query; f.mu must be held.
func (f *fakeConsul) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// bump records a state change; f.mu must be held.
func (f *fakeConsul) bump() {
	f.index++
	f.notify()
}

func (f *fakeConsul) reportedIndex() uint64 {
	if f.zeroIndex {
		return 0
	}
	return f.index
}

func (f *fakeConsul) Register(_ context.Context, r *api.AgentServiceRegistration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Register"]++
	switch {
	case f.down:
		return errDown
	case f.registerErr != nil:
		return f.registerErr
	}
	c := *r
	f.services[r.ID] = &c
	f.bump()
	return nil
}

func (f *fakeConsul) Deregister(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Deregister"]++
	if f.down {
		return errDown
	}
	delete(f.services, id)
	f.bump()
	return nil
}

func (f *fakeConsul) Registered(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Registered"]++
	if f.down {
		return false, errDown
	}
	_, ok := f.services[id]
	return ok, nil
}

// block waits as a blocking query does. It is called and returns with f.mu held.
func (f *fakeConsul) block(ctx context.Context, q *api.QueryOptions) error {
	wait := q.WaitTime
	if wait <= 0 {
		wait = 5 * time.Minute // Consul's default
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		if f.down {
			return errDown
		}
		if q.WaitIndex == 0 || f.reportedIndex() > q.WaitIndex {
			return nil
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
			f.mu.Lock()
		case <-ctx.Done():
			f.mu.Lock()
			return ctx.Err()
		case <-timeout.C:
			f.mu.Lock()
			if f.down {
				return errDown
			}
			return nil
		}
	}
}

func (f *fakeConsul) Service(ctx context.Context, service, tag string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Service"]++
	if err := f.block(ctx, q); err != nil {
		return nil, nil, err
	}
	var out []*api.ServiceEntry
	for _, r := range f.services {
		if r.Name != service || (tag != "" && !slices.Contains(r.Tags, tag)) || (passingOnly && f.critical[r.ID]) {
			continue
		}
		out = append(out, &api.ServiceEntry{
			Node: &api.Node{Node: "fake", Address: "10.0.0.1"},
			Service: &api.AgentService{
				ID: r.ID, Service: r.Name, Address: r.Address, Port: r.Port,
				Tags: slices.Clone(r.Tags), Meta: maps.Clone(r.Meta),
			},
		})
	}
	return out, &api.QueryMeta{LastIndex: f.reportedIndex()}, nil
}

func (f *fakeConsul) CatalogServices(ctx context.Context, q *api.QueryOptions) (map[string][]string, *api.QueryMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["CatalogServices"]++
	if err := f.block(ctx, q); err != nil {
		return nil, nil, err
	}
	out := make(map[string][]string)
	for _, r := range f.services {
		tags := out[r.Name]
		if tags == nil {
			tags = []string{}
		}
		for _, t := range r.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		out[r.Name] = tags
	}
	return out, &api.QueryMeta{LastIndex: f.reportedIndex()}, nil
}

// add registers an instance directly, as another service would.
func (f *fakeConsul) add(r *api.AgentServiceRegistration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[r.ID] = r
	f.bump()
}

func (f *fakeConsul) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, id)
	f.bump()
}

func (f *fakeConsul) setCritical(id string, critical bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.critical[id] = critical
	f.bump()
}

func (f *fakeConsul) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	f.notify()
}

// restart simulates a dev-mode agent restart: all state is lost and the
// index starts over at index.
func (f *fakeConsul) restart(index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services = make(map[string]*api.AgentServiceRegistration)
	f.critical = make(map[string]bool)
	f.down = false
	f.index = index
	f.notify()
}

func (f *fakeConsul) set(fn func(f *fakeConsul)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	f.notify()
}

func (f *fakeConsul) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeConsul) registration(id string) (*api.AgentServiceRegistration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.services[id]
	return r, ok
}

// fakeInstance is a registration as a kitshop service would send it.
func fakeInstance(service, id string, httpPort, grpcPort int) *api.AgentServiceRegistration {
	return &api.AgentServiceRegistration{
		ID: id, Name: service, Address: "127.0.0.1", Port: httpPort,
		Tags: []string{consul.TagAPI},
		Meta: map[string]string{
			consul.MetaHTTPPort:  itoa(httpPort),
			consul.MetaGRPCPort:  itoa(grpcPort),
			consul.MetaAPIPrefix: "/api/v1/" + service,
		},
	}
}

// fast makes retries quick enough for unit tests.
func fast(more ...consul.Option) []consul.Option {
	return append([]consul.Option{
		consul.WithBackoff(5*time.Millisecond, 20*time.Millisecond),
		consul.WithRecheckInterval(20 * time.Millisecond),
	}, more...)
}

// testLogger logs through t, so output shows only for failing tests (or -v).
func testLogger(t *testing.T) log.Logger {
	t.Helper()
	return log.NewLogfmtLogger(log.NewSyncWriter(tWriter{t}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive returns the next value from ch or fails the test after timeout.
func receive[T any](t *testing.T, ch <-chan T, timeout time.Duration) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return v
	case <-time.After(timeout):
		t.Fatalf("nothing received within %v", timeout)
	}
	panic("unreachable")
}

func ids(instances []consul.Instance) []string {
	out := make([]string, len(instances))
	for i, in := range instances {
		out[i] = in.ID
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
