package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/nats-io/nats.go"

	"github.com/kitshop/kitshop/gateway"
)

// features are the settings of the response cache, degradation, composite
// routes and instance selection.
type features struct {
	natsURL       string
	cacheMaxBytes int64
	staleIfError  time.Duration
	staleTimeout  time.Duration
	invalidations []gateway.InvalidationRule
	balance       gateway.Balance
	composites    gateway.CompositeConfig
}

// register adds the flags to fs; check, called after parsing, validates
// them and fills in the parsed values.
func (f *features) register(fs *flag.FlagSet) (check func() []error) {
	fs.StringVar(&f.natsURL, "nats-url", "", "`URL` of the NATS server whose change events (product.changed) keep the response cache fresh; \"\" leaves the cache revalidating every read")
	fs.Int64Var(&f.cacheMaxBytes, "cache-max-bytes", gateway.DefaultCacheMaxBytes, "memory bound of the response cache for public GETs, in `bytes` (0 disables the cache)")
	fs.DurationVar(&f.staleIfError, "stale-if-error", gateway.DefaultStaleIfError, "how long past its freshness a cached answer is still served, marked as stale, while its service cannot answer (0: never)")
	fs.DurationVar(&f.staleTimeout, "stale-timeout", gateway.DefaultStaleTimeout, "how long a read that has a stale answer to fall back on waits for its service")
	invalidations := fs.String("cache-invalidations", formatInvalidations(gateway.DefaultInvalidations), "change events that invalidate cached answers, as \"STREAM:subject=/collection,…\"")
	balanceDefault := fs.String("balance-default", gateway.BalanceRoundRobin, "instance selection of services -balance does not name: round_robin, random or p2c")
	balance := fs.String("balance", "", "instance selection per service, as \"product=p2c,order=random\"")
	composites := fs.String("composites", "", "composite routes as JSON (see the README); \"\" is the order expansion, GET /api/v1/orders/{id}?expand=products,payment")
	return func() []error {
		var problems []error
		if f.cacheMaxBytes < 0 {
			problems = append(problems, fmt.Errorf("-cache-max-bytes %d: want 0 (off) or more", f.cacheMaxBytes))
		}
		if f.staleIfError < 0 {
			problems = append(problems, fmt.Errorf("-stale-if-error %v: want 0 (never) or more", f.staleIfError))
		}
		if f.staleTimeout <= 0 {
			problems = append(problems, fmt.Errorf("-stale-timeout %v: want a positive duration", f.staleTimeout))
		}
		var err error
		if f.invalidations, err = gateway.ParseInvalidations(*invalidations); err != nil {
			problems = append(problems, fmt.Errorf("-cache-invalidations: %w", err))
		}
		if f.balance, err = gateway.ParseBalance(*balanceDefault, *balance); err != nil {
			problems = append(problems, fmt.Errorf("-balance: %w", err))
		}
		raw := *composites
		if strings.TrimSpace(raw) == "" {
			raw = gateway.DefaultCompositesJSON
		}
		if _, err := gateway.ParseComposites([]byte(raw)); err != nil {
			problems = append(problems, fmt.Errorf("-composites: %w", err))
		} else {
			f.composites, _ = gateway.LiveComposites.Parse(raw)
		}
		return problems
	}
}

func formatInvalidations(rules []gateway.InvalidationRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.Stream + ":" + r.Subject + "=" + r.Collection
	}
	return strings.Join(parts, ",")
}

// newCache returns the response cache, or nil when it is off.
func (f *features) newCache() (*gateway.Cache, error) {
	if f.cacheMaxBytes == 0 {
		return nil, nil
	}
	stale := f.staleIfError
	if stale == 0 {
		stale = -1 // the flag's 0 means never
	}
	return gateway.NewCache(gateway.CacheConfig{MaxBytes: f.cacheMaxBytes, StaleIfError: stale, StaleTimeout: f.staleTimeout})
}

// start connects the cache to the change events; the returned function
// stops that. The composites and the balance follow the live settings
// (startLive) from the flags' values.
func (f *features) start(gw *gateway.Gateway, cache *gateway.Cache, logger log.Logger) (func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if cache != nil && f.natsURL != "" {
		// Not waiting for the broker: until it answers, the cache
		// revalidates every read.
		nc, err := nats.Connect(f.natsURL, nats.Name("gateway"), nats.RetryOnFailedConnect(true),
			nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			return stop, fmt.Errorf("nats: %w", err)
		}
		stops = append(stops, nc.Close)
		inv, err := gateway.StartInvalidations(nc, cache, f.invalidations, logger)
		if err != nil {
			stop()
			return func() {}, err
		}
		stops = append(stops, inv.Stop)
	}
	return stop, nil
}
