package gateway

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

// ConsulSource is the production Source: it follows the services that Consul
// lists with the "api" tag and the passing instances of each, and publishes a
// new table whenever either changes. Each instance names its routes in the
// api_prefix meta value, one prefix or several separated by commas
// ("/api/v1/users,/api/v1/auth"), and the routes that need no token in the
// MetaPublicRoutes value.
//
// The instances of a service normally agree; during a rolling upgrade they
// may not, and the announcement most instances make wins (ties go to the
// smallest, so the choice does not flap). Announcements are parsed when they
// first appear, not per request or per table, and invalid parts (a bad
// prefix, a malformed public route) are logged then, once, and ignored.
//
// Claims are not taken on trust: a prefix pinned by the gateway's
// configuration (Owners) is routed to its pinned service only, and a prefix
// already routed stays with its service when another starts announcing it.
// Refused claims are logged and counted (RefusedClaims).
//
// A service whose instances all fail their checks keeps its routes (with no
// instances, so requests get a 503 rather than a 404) for as long as it stays
// in the catalog; its prefixes and public routes are the ones its instances
// last announced.
type ConsulSource struct {
	routes Routes
	client consul.Client
	pins   Owners
	logger log.Logger
	opts   []consul.Option
	// watchLogger is the caller's logger, for the watchers.
	watchLogger log.Logger
	services    *consul.ServicesWatcher
	changed     chan struct{} // capacity 1: coalesces bursts of updates into one rebuild
	stop        chan struct{}
	done        chan struct{}
	stopOnce    sync.Once
	synced      atomic.Bool

	// Owned by the run goroutine.
	listed    bool // the first list of services has arrived
	watchers  map[string]*serviceWatch
	announced map[string]*routing                  // service -> routing its instances last announced
	parsed    map[string]map[announcement]*routing // service -> its current announcements, parsed (nil: unusable)
	last      *Table
	owners    map[string]string       // prefix -> the service routed there in the last table
	refused   map[refusedClaim]string // the claims the last table refused, and why
	// refusedCount is len(refused), for RefusedClaims.
	refusedCount atomic.Int64
}

// announcement is what an instance says about its service's routing: its
// raw api_prefix and public_routes meta values.
type announcement struct{ prefixes, public string }

func (a announcement) compare(b announcement) int {
	return cmp.Or(cmp.Compare(a.prefixes, b.prefixes), cmp.Compare(a.public, b.public))
}

// routing is a parsed announcement.
type routing struct {
	prefixes []string
	public   PublicRoutes
}

type serviceWatch struct {
	w      *consul.Watcher
	cancel func()
	seen   atomic.Bool // the watcher has delivered its first snapshot
	quit   chan struct{}
	done   chan struct{}
}

// NewConsulSource starts following Consul through c. Options tune the
// watchers (tests shorten their waits). Call Stop to end it. Until Consul has
// answered, the table is empty and every path is a 404.
func NewConsulSource(c consul.Client, logger log.Logger, opts ...consul.Option) *ConsulSource {
	return NewPinnedConsulSource(c, logger, nil, opts...)
}

// NewPinnedConsulSource is NewConsulSource with prefixes pinned to their
// services by pins.
func NewPinnedConsulSource(c consul.Client, logger log.Logger, pins Owners, opts ...consul.Option) *ConsulSource {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	s := &ConsulSource{
		client:      c,
		pins:        maps.Clone(pins),
		logger:      log.With(logger, "component", "gateway.routes"),
		watchLogger: logger,
		opts:        opts,
		changed:     make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		watchers:    make(map[string]*serviceWatch),
		announced:   make(map[string]*routing),
		parsed:      make(map[string]map[announcement]*routing),
	}
	// The watchers name their own component.
	s.services = consul.NewServicesWatcher(c, consul.TagAPI, logger, opts...)
	go s.run()
	return s
}

// Table returns the current routing table.
func (s *ConsulSource) Table() *Table { return s.routes.Table() }

// Synced reports whether the table has caught up with Consul once: the
// list of API services has arrived and so has the first set of instances of
// each. It stays true during later Consul outages, when the last known table
// keeps serving. Use it as a readiness check, so a gateway that has never
// reached Consul takes no traffic it would answer with 404s.
func (s *ConsulSource) Synced() bool { return s.synced.Load() }

// HealthCheck is the gateway's readiness: not ready until the routes are
// known, since a gateway that has not heard from Consul would answer every
// request with a 404. The signing keys are not a condition: public routes
// (login among them) work without them, and a user service that is down
// must not take the gateway out of rotation.
func (s *ConsulSource) HealthCheck() health.Check {
	return health.Check{Name: "routes", Func: func(context.Context) error {
		if !s.Synced() {
			return errs.New(errs.Unavailable, "waiting for the service catalog")
		}
		return nil
	}}
}

// Stop ends all watches and waits for them. The last table stays readable.
func (s *ConsulSource) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *ConsulSource) run() {
	defer close(s.done)
	names, cancel := s.services.Subscribe()
	defer func() {
		cancel()
		s.services.Stop()
		for name := range s.watchers {
			s.unwatch(name)
		}
	}()
	for {
		select {
		case <-s.stop:
			return
		case list, ok := <-names:
			if !ok {
				return
			}
			s.listed = true
			s.follow(list)
			s.rebuild()
		case <-s.changed:
			s.rebuild()
		}
	}
}

// follow starts a watcher for every new service name and stops those of
// services that left the catalog.
func (s *ConsulSource) follow(names []string) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
		if _, ok := s.watchers[n]; !ok {
			s.watch(n)
		}
	}
	for n := range s.watchers {
		if !want[n] {
			s.unwatch(n)
			delete(s.announced, n)
			delete(s.parsed, n)
		}
	}
}

func (s *ConsulSource) watch(name string) {
	w := consul.NewWatcher(s.client, name, s.watchLogger, s.opts...)
	ch, cancel := w.Subscribe()
	sw := &serviceWatch{w: w, cancel: cancel, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
				sw.seen.Store(true)
				select {
				case s.changed <- struct{}{}:
				default: // a rebuild is already pending and will see this change
				}
			case <-sw.quit:
				return
			}
		}
	}()
	s.watchers[name] = sw
}

func (s *ConsulSource) unwatch(name string) {
	sw := s.watchers[name]
	delete(s.watchers, name)
	close(sw.quit)
	sw.cancel()
	sw.w.Stop()
	<-sw.done
}

// rebuild publishes a table made from every watcher's current instances.
func (s *ConsulSource) rebuild() {
	type service struct {
		instances []consul.Instance
		routing   *routing
	}
	services := make(map[string]service, len(s.watchers))
	claims := make(map[string][]string) // prefix -> claiming services, in name order
	for _, name := range slices.Sorted(maps.Keys(s.watchers)) {
		instances := s.watchers[name].w.Instances()
		rt, ok := s.routingOf(name, instances)
		if !ok {
			continue
		}
		services[name] = service{instances, rt}
		for _, prefix := range rt.prefixes {
			claims[prefix] = append(claims[prefix], name)
		}
	}
	byPrefix := make(map[string]Route, len(claims))
	for prefix, name := range s.assignOwners(claims) {
		svc := services[name]
		byPrefix[prefix] = Route{Prefix: prefix, Service: name, Instances: svc.instances, Public: svc.routing.public}
	}
	t, err := NewTable(slices.Collect(maps.Values(byPrefix))...)
	if err != nil {
		// routingOf only returns clean prefixes and duplicates were dropped.
		level.Error(s.logger).Log("msg", "building routing table", "err", err)
		return
	}
	s.logChanges(s.last, t)
	s.last = t
	s.routes.Store(t)
	if !s.synced.Load() && s.listed && s.allSeen() {
		s.synced.Store(true)
		level.Info(s.logger).Log("msg", "routing table synced with consul", "routes", t.Len())
	}
}

func (s *ConsulSource) allSeen() bool {
	for _, sw := range s.watchers {
		if !sw.seen.Load() {
			return false
		}
	}
	return true
}

// routingOf returns the routing of a service: the announcement most of its
// instances make (ties go to the smallest), else the one it made last.
// Instances whose announcement has no valid prefix do not vote.
func (s *ConsulSource) routingOf(service string, instances []consul.Instance) (*routing, bool) {
	known := s.parsed[service]
	current := make(map[announcement]*routing)
	votes := make(map[announcement]int)
	for _, in := range instances {
		a := announcement{prefixes: in.APIPrefix, public: in.Meta[MetaPublicRoutes]}
		rt, ok := current[a]
		if !ok {
			if rt, ok = known[a]; !ok {
				rt = s.parse(service, in.ID, a)
			}
			current[a] = rt
		}
		if rt != nil {
			votes[a]++
		}
	}
	if len(instances) > 0 {
		// Forget announcements no instance makes any more, so one that
		// comes back is checked (and its problems logged) again. With no
		// instance at all there is nothing new to learn: keep them.
		s.parsed[service] = current
	}
	var (
		best announcement
		n    int
	)
	for a, v := range votes {
		if v > n || (v == n && a.compare(best) < 0) {
			best, n = a, v
		}
	}
	if n == 0 {
		rt, ok := s.announced[service]
		return rt, ok
	}
	s.announced[service] = current[best]
	return current[best], true
}

// parse parses an announcement of service first made by instance id,
// logging each invalid part, and returns nil if it names no valid prefix.
func (s *ConsulSource) parse(service, id string, a announcement) *routing {
	prefixes, problems := ParsePrefixes(a.prefixes)
	for _, err := range problems {
		level.Warn(s.logger).Log("msg", "ignoring invalid api prefix", "service", service, "instance", id, "err", err)
	}
	if len(prefixes) == 0 {
		if len(problems) == 0 {
			level.Warn(s.logger).Log("msg", "ignoring instance without api prefix", "service", service, "instance", id)
		}
		return nil
	}
	public, problems := ParsePublicRoutes(a.public)
	for _, err := range problems {
		level.Warn(s.logger).Log("msg", "ignoring malformed public route", "service", service, "instance", id, "err", err)
	}
	public, outside := public.within(prefixes)
	for _, r := range outside {
		level.Warn(s.logger).Log("msg", "ignoring public route outside the service's prefixes", "service", service,
			"instance", id, "public_route", r, "prefixes", strings.Join(prefixes, ","))
	}
	return &routing{prefixes: prefixes, public: public}
}

func (s *ConsulSource) logChanges(old, cur *Table) {
	for _, r := range cur.Routes() {
		prev, ok := old.Lookup(r.Prefix)
		switch {
		case !ok || prev.Prefix != r.Prefix:
			level.Info(s.logger).Log("msg", "route added", "prefix", r.Prefix, "service", r.Service, "instances", len(r.Instances),
				"public", r.Public)
		case prev.Service != r.Service:
			level.Info(s.logger).Log("msg", "route moved", "prefix", r.Prefix, "service", r.Service, "from", prev.Service,
				"instances", len(r.Instances), "public", r.Public)
		case !prev.Public.Equal(r.Public):
			level.Info(s.logger).Log("msg", "route public routes changed", "prefix", r.Prefix, "service", r.Service,
				"public", r.Public, "was", prev.Public)
		case len(prev.Instances) != len(r.Instances):
			level.Info(s.logger).Log("msg", "route instances changed", "prefix", r.Prefix, "service", r.Service, "instances", len(r.Instances))
		}
	}
	for _, r := range old.Routes() {
		if now, ok := cur.Lookup(r.Prefix); !ok || now.Prefix != r.Prefix {
			level.Info(s.logger).Log("msg", "route removed", "prefix", r.Prefix, "service", r.Service)
		}
	}
}
