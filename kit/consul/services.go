package consul

import (
	"context"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/hashicorp/consul/api"
)

// ServicesWatcher follows the names of all services in the catalog that
// carry a tag; the gateway uses it with TagAPI to discover which services to
// route. A name stays listed while the service has any registered instance,
// healthy or not; follow each with a Watcher for the passing ones.
//
// It shares Watcher's behaviour: blocking queries, backoff while Consul is
// unreachable, last known names kept during outages, latest-wins
// subscriptions, Stop.
type ServicesWatcher struct {
	w *watch[string]
}

// NewServicesWatcher starts watching the names of services tagged tag (all
// services when tag is ""). Call Stop when done.
func NewServicesWatcher(c Client, tag string, logger log.Logger, opts ...Option) *ServicesWatcher {
	query := func(ctx context.Context, index uint64, wait time.Duration) ([]string, uint64, error) {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: wait}
		services, meta, err := c.CatalogServices(ctx, q)
		if err != nil {
			return nil, 0, err
		}
		names := make([]string, 0, len(services))
		for name, tags := range services {
			if tag == "" || slices.Contains(tags, tag) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names, meta.LastIndex, nil
	}
	logger = log.With(logger, "component", "consul.services_watcher", "tag", tag)
	return &ServicesWatcher{w: startWatch(query, slices.Equal[[]string], func(name string) string { return name }, logger, newOptions(opts))}
}

// Services returns the latest sorted snapshot of service names (read-only).
func (s *ServicesWatcher) Services() []string { return s.w.snapshot() }

// Ready blocks until the first result has arrived, ctx ends (ctx.Err()), or
// the watcher is stopped (ErrStopped).
func (s *ServicesWatcher) Ready(ctx context.Context) error { return s.w.waitReady(ctx) }

// Subscribe works like Watcher.Subscribe, for service names.
func (s *ServicesWatcher) Subscribe() (<-chan []string, func()) { return s.w.subscribe() }

// Stop ends the watch goroutine and closes subscribed channels; it is
// idempotent.
func (s *ServicesWatcher) Stop() { s.w.stop() }
