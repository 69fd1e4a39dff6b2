package gateway

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-kit/log/level"
)

// Owners pins API prefixes to the services allowed to serve them, from the
// gateway's own configuration rather than from what services announce in
// Consul: a pinned prefix, and every prefix below it, is routed to its
// service only, and a claim by any other service is refused. Anything that
// can register in Consul could otherwise take over a path by announcing it
// (or a longer prefix below it, which wins the lookup). A nil Owners pins
// nothing.
type Owners map[string]string

// ParseOwners parses a list of pins, comma-separated "prefix=service"
// entries ("/api/v1/users=user,/api/v1/auth=user"), as the gateway's
// -route-owners flag gives them. Blank entries are skipped; a malformed
// entry, an invalid prefix (see CleanPrefix) or a prefix pinned twice to
// different services is an error.
func ParseOwners(value string) (Owners, error) {
	out := make(Owners)
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		prefix, service, ok := strings.Cut(entry, "=")
		prefix, service = strings.TrimSpace(prefix), strings.TrimSpace(service)
		if !ok || service == "" || strings.ContainsAny(service, "/ =") {
			return nil, fmt.Errorf("route owner %.80q: want \"/path/prefix=service\"", entry)
		}
		p, err := CleanPrefix(prefix)
		if err != nil {
			return nil, fmt.Errorf("route owner %.80q: %w", entry, err)
		}
		if prev, ok := out[p]; ok && prev != service {
			return nil, fmt.Errorf("route owner %.80q: %s is pinned to %q already", entry, p, prev)
		}
		out[p] = service
	}
	return out, nil
}

// owner returns the service pinned to prefix, by its own entry or the
// nearest one above it.
func (o Owners) owner(prefix string) (string, bool) {
	for p := prefix; len(o) > 0; {
		if s, ok := o[p]; ok {
			return s, true
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return "", false
}

// refusedClaim is a service's claim to a prefix that the gateway does not
// route.
type refusedClaim struct{ prefix, service string }

// assignOwners decides which service gets each claimed prefix (claims:
// prefix -> the services claiming it, in name order):
//
//   - a prefix pinned by the configuration (Owners) goes to its pinned
//     service if that claims it, and to nobody otherwise;
//   - a prefix that had an owner goes on to that owner as long as it still
//     claims it: a service announcing a prefix another already serves does
//     not take it over;
//   - a prefix newly claimed by several services at once (after a restart
//     of the gateway, say) goes to the first by name, so the choice is
//     stable.
//
// Every other claim is refused: logged once, when it first appears, and
// counted (RefusedClaims) for as long as it stands.
func (s *ConsulSource) assignOwners(claims map[string][]string) map[string]string {
	owners := make(map[string]string, len(claims))
	refused := make(map[refusedClaim]string) // -> why
	for prefix, names := range claims {
		owner := names[0]
		why := "prefix claimed by another service"
		if pinned, ok := s.pins.owner(prefix); ok {
			owner, why = "", "prefix pinned to another service by the gateway's configuration"
			if slices.Contains(names, pinned) {
				owner = pinned
			}
		} else if prev, ok := s.owners[prefix]; ok && slices.Contains(names, prev) {
			owner = prev
		}
		if owner != "" {
			owners[prefix] = owner
		}
		for _, n := range names {
			if n != owner {
				refused[refusedClaim{prefix, n}] = why
			}
		}
	}
	for _, c := range slices.SortedFunc(maps.Keys(refused), func(a, b refusedClaim) int {
		return strings.Compare(a.prefix+" "+a.service, b.prefix+" "+b.service)
	}) {
		if _, known := s.refused[c]; !known {
			level.Warn(s.logger).Log("msg", "refusing api prefix claim", "prefix", c.prefix, "service", c.service,
				"owner", owners[c.prefix], "reason", refused[c])
		}
	}
	s.owners, s.refused = owners, refused
	s.refusedCount.Store(int64(len(refused)))
	return owners
}

// RefusedClaims returns how many claims to API prefixes the current table
// refuses (see assignOwners). Anything above zero means two services
// announce the same prefix, or one announces a prefix pinned to another:
// a misconfiguration or an attempt to capture traffic. The gateway exports
// it as kitshop_gateway_route_claims_refused.
func (s *ConsulSource) RefusedClaims() int { return int(s.refusedCount.Load()) }
