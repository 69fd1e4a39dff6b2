package gateway

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/kitshop/kitshop/kit/consul"
)

// Instance selection strategies (Config.Balance).
const (
	// BalanceRoundRobin takes the instances in turn.
	BalanceRoundRobin = "round_robin"
	// BalanceRandom picks one at random.
	BalanceRandom = "random"
	// BalanceP2C picks two at random and sends the request to the one with
	// fewer requests in flight through this gateway (power of two
	// choices): a slow instance accumulates requests and gets fewer new
	// ones, at the cost of one more random draw and an atomic counter.
	BalanceP2C = "p2c"
)

// Balance chooses the instance selection strategy per service.
type Balance struct {
	// Default applies to services Services does not name; "" means
	// BalanceRoundRobin.
	Default string `json:"default,omitempty"`
	// Services maps a service name to its strategy.
	Services map[string]string `json:"services,omitempty"`
}

// Validate reports an unknown strategy.
func (b Balance) Validate() error {
	if b.Default != "" && !knownStrategy(b.Default) {
		return fmt.Errorf("balance: unknown strategy %q (want %s, %s or %s)", b.Default, BalanceRoundRobin, BalanceRandom, BalanceP2C)
	}
	for svc, s := range b.Services {
		if !knownStrategy(s) {
			return fmt.Errorf("balance: service %s: unknown strategy %q (want %s, %s or %s)", svc, s, BalanceRoundRobin, BalanceRandom, BalanceP2C)
		}
	}
	return nil
}

func knownStrategy(s string) bool {
	return s == BalanceRoundRobin || s == BalanceRandom || s == BalanceP2C
}

func (b Balance) strategy(service string) string {
	if s, ok := b.Services[service]; ok {
		return s
	}
	if b.Default != "" {
		return b.Default
	}
	return BalanceRoundRobin
}

// String returns the per-service strategies in ParseBalance's form.
func (b Balance) String() string {
	parts := make([]string, 0, len(b.Services))
	for svc, s := range b.Services {
		parts = append(parts, svc+"="+s)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// ParseBalance parses "service=strategy" entries separated by commas, with
// def as the strategy of the services it does not name.
func ParseBalance(def, value string) (Balance, error) {
	b := Balance{Default: def, Services: map[string]string{}}
	for entry := range strings.SplitSeq(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		svc, s, ok := strings.Cut(entry, "=")
		if !ok || strings.TrimSpace(svc) == "" {
			return Balance{}, fmt.Errorf("balance %q: want service=strategy", entry)
		}
		b.Services[strings.TrimSpace(svc)] = strings.TrimSpace(s)
	}
	return b, b.Validate()
}

// SetBalance changes the strategies of the requests that start from now
// on; an invalid b is refused and changes nothing.
func (g *Gateway) SetBalance(b Balance) error {
	if err := b.Validate(); err != nil {
		return err
	}
	g.fwd.balance.Store(&b)
	return nil
}

// picker picks instances by each service's strategy.
type picker struct {
	balance  atomic.Pointer[Balance]
	rr       *consul.RoundRobin
	breakers *breakers
}

// next returns an instance of service for which skip returns false.
func (p *picker) next(service string, instances []consul.Instance, skip func(consul.Instance) bool) (consul.Instance, bool) {
	switch p.balance.Load().strategy(service) {
	case BalanceRandom:
		return p.random(instances, skip, 1, service)
	case BalanceP2C:
		return p.random(instances, skip, 2, service)
	}
	return p.rr.Next(instances, skip)
}

// random draws choices instances from those not skipped and returns the one
// with the fewest requests in flight.
func (p *picker) random(instances []consul.Instance, skip func(consul.Instance) bool, choices int, service string) (consul.Instance, bool) {
	var buf [16]int
	eligible := buf[:0]
	for i, in := range instances {
		if skip == nil || !skip(in) {
			eligible = append(eligible, i)
		}
	}
	switch len(eligible) {
	case 0:
		return consul.Instance{}, false
	case 1:
		return instances[eligible[0]], true
	}
	a := rand.IntN(len(eligible))
	if choices < 2 {
		return instances[eligible[a]], true
	}
	b := rand.IntN(len(eligible) - 1)
	if b >= a {
		b++ // two different instances
	}
	ia, ib := instances[eligible[a]], instances[eligible[b]]
	if p.breakers.get(service, ib.ID).inflight.Load() < p.breakers.get(service, ia.ID).inflight.Load() {
		return ib, true
	}
	return ia, true
}
