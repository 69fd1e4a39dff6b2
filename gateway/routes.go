package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/kitshop/kitshop/kit/consul"
)

// Route sends every path under Prefix to Service, one of whose healthy
// Instances serves each request. A service with several prefixes has one
// Route per prefix, all alike but for Prefix.
type Route struct {
	Prefix    string
	Service   string
	Instances []consul.Instance // may be empty: the service is known but down
	// Public are the service's routes that need no access token; every
	// other request routed here must carry a valid one.
	Public PublicRoutes
}

// Table is an immutable routing table: a snapshot that maps path prefixes to
// routes. Build a new one to change the routing and publish it with
// Routes.Store; readers holding the old one are never disturbed.
type Table struct {
	routes map[string]*Route
	maxLen int    // longest prefix, bounding the work per lookup
	site   *Route // the SitePrefix route, if any (see siteFallback)
}

// NewTable returns a table of routes. Prefixes are normalised by CleanPrefix;
// an invalid prefix, a route without a service, or two routes with the same
// prefix make it fail. The instances are not copied: callers must not modify
// them afterwards.
func NewTable(routes ...Route) (*Table, error) {
	t := &Table{routes: make(map[string]*Route, len(routes))}
	var problems []error
	for _, r := range routes {
		p, err := CleanPrefix(r.Prefix)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if r.Service == "" {
			problems = append(problems, fmt.Errorf("route %q: empty service name", p))
			continue
		}
		if prev, ok := t.routes[p]; ok {
			problems = append(problems, fmt.Errorf("route %q: claimed by services %q and %q", p, prev.Service, r.Service))
			continue
		}
		r.Prefix = p
		t.routes[p] = &r
		t.maxLen = max(t.maxLen, len(p))
		if p == SitePrefix {
			t.site = &r
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return t, nil
}

// CleanPrefix validates an API prefix and returns it without a trailing
// slash. A prefix is an absolute, clean path of at least one segment:
// "/api/v1/products", or the site root SitePrefix, which serves only the paths
// no other prefix matches outside /api (see SitePrefix), so API typos still
// get a 404. Refused are the gateway's own
// endpoints (/healthz, /readyz, /metrics, /api/openapi.json) and the paths
// below them: a service must not be able to claim, or seem to serve, the
// gateway's health checks, metrics or API description.
func CleanPrefix(prefix string) (string, error) {
	if prefix == SitePrefix {
		return SitePrefix, nil
	}
	p := strings.TrimSuffix(prefix, "/")
	switch {
	case p == "":
		return "", fmt.Errorf("prefix %q: want an absolute path below the root, such as /api/v1/products", prefix)
	case p[0] != '/':
		return "", fmt.Errorf("prefix %q: must start with /", prefix)
	case path.Clean(p) != p:
		return "", fmt.Errorf("prefix %q: must be a clean path (no //, . or .. segments)", prefix)
	case strings.ContainsAny(p, "?#%{} \t\r\n"):
		return "", fmt.Errorf("prefix %q: contains a character not allowed in a prefix", prefix)
	case reserved(p):
		return "", fmt.Errorf("prefix %q: reserved for the gateway's own endpoints (/healthz, /readyz, /metrics, "+OpenAPIPath+")", prefix)
	}
	return p, nil
}

// reserved reports whether the clean prefix p is one of the paths
// kit/server serves on the gateway's port itself, in front of the routes
// (/healthz, /readyz, /metrics), or the gateway's OpenAPIPath, or lies below
// one. Letter case is ignored to keep clear of look-alikes, though paths are
// matched case-sensitively.
func reserved(p string) bool {
	if len(p) >= len(OpenAPIPath) && strings.EqualFold(p[:len(OpenAPIPath)], OpenAPIPath) &&
		(len(p) == len(OpenAPIPath) || p[len(OpenAPIPath)] == '/') {
		return true
	}
	first, _, _ := strings.Cut(p[1:], "/")
	switch strings.ToLower(first) {
	case "healthz", "readyz", "metrics":
		return true
	}
	return false
}

// Lookup returns the route with the longest prefix that matches urlPath on a
// segment boundary: "/a/b" matches "/a/b" and "/a/b/c" but not "/a/bc". It
// does not allocate and its cost is bounded by the longest prefix in the
// table, not by the length of the path a client sent.
func (t *Table) Lookup(urlPath string) (*Route, bool) {
	if t == nil || len(t.routes) == 0 || urlPath == "" {
		return nil, false
	}
	p := urlPath
	if len(p) > t.maxLen {
		// No prefix is longer than maxLen, so start at the last segment
		// boundary within reach.
		i := strings.LastIndexByte(p[:t.maxLen+1], '/')
		if i <= 0 {
			return t.siteFallback(urlPath)
		}
		p = p[:i]
	}
	for {
		if r, ok := t.routes[p]; ok {
			return r, true
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			return t.siteFallback(urlPath)
		}
		p = p[:i]
	}
}

// Routes returns all routes ordered by prefix.
func (t *Table) Routes() []Route {
	if t == nil {
		return nil
	}
	out := make([]Route, 0, len(t.routes))
	for _, r := range t.routes {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Route) int { return cmp.Compare(a.Prefix, b.Prefix) })
	return out
}

// Len returns the number of routes.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.routes)
}

// Source yields the routing table in force. The gateway calls Table once per
// request, so it must be cheap and safe for concurrent use.
type Source interface {
	Table() *Table
}

// Routes holds the current table and replaces it atomically: a request sees
// either the old table or the new one, never a mix, and lookups take no lock.
// The zero value holds an empty table. It is a Source, which makes it the
// static or hand-fed source for tests and tools.
type Routes struct {
	p atomic.Pointer[Table]
}

// Table returns the current table (never nil).
func (r *Routes) Table() *Table {
	if t := r.p.Load(); t != nil {
		return t
	}
	return &Table{}
}

// Store publishes t as the current table.
func (r *Routes) Store(t *Table) { r.p.Store(t) }
