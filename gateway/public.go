package gateway

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/kitshop/kitshop/kit/consul"
)

// MetaPublicRoutes is the Consul service meta key in which a service lists
// the routes the gateway lets through without an access token (see
// consul.MetaPublicRoutes for the format).
const MetaPublicRoutes = consul.MetaPublicRoutes

// ParsePrefixes splits an api_prefix meta value, one prefix or several
// separated by commas ("/api/v1/users,/api/v1/auth"), into clean prefixes
// (see CleanPrefix), sorted and without duplicates. Blank entries are
// skipped. Invalid entries are left out and reported, one error each; the
// valid ones are still returned.
func ParsePrefixes(value string) ([]string, []error) {
	var (
		out      []string
		problems []error
	)
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := CleanPrefix(entry)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), problems
}

// PublicRoute is one entry of a service's public routes (kit/consul).
type PublicRoute = consul.PublicRoute

// exactMark marks an exact entry in MetaPublicRoutes: "POST =/api/v1/users".
const exactMark = "="

// matches reports whether r covers path p.
func matches(r PublicRoute, p string) bool {
	if r.Exact {
		return p == r.Path
	}
	return under(p, r.Path)
}

// PublicRoutes is the set of routes of one service that need no token. It
// is immutable once parsed and cheap to copy; the zero value makes nothing
// public.
type PublicRoutes struct {
	routes []PublicRoute // sorted by path, then method; no duplicates
}

// NewPublicRoutes returns the set of routes; their paths are normalised by
// CleanPrefix. An invalid method or path is an error.
func NewPublicRoutes(routes ...PublicRoute) (PublicRoutes, error) {
	var out []PublicRoute
	for _, r := range routes {
		checked, err := checkPublicRoute(r.Method, r.Path)
		if err != nil {
			return PublicRoutes{}, err
		}
		checked.Exact = r.Exact
		out = append(out, checked)
	}
	return newPublicRoutes(out), nil
}

func newPublicRoutes(routes []PublicRoute) PublicRoutes {
	slices.SortFunc(routes, func(a, b PublicRoute) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method), compareBool(a.Exact, b.Exact))
	})
	return PublicRoutes{routes: slices.Compact(routes)}
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// ParsePublicRoutes parses a MetaPublicRoutes value: comma-separated
// "METHOD /path/prefix" and "METHOD =/exact/path" entries, with blank
// entries skipped. A malformed
// entry (not two words, a method that is not an upper-case token, a path that
// is not a clean prefix below the root) is left out and reported, one error
// each; the valid entries are still returned. An empty value makes nothing
// public.
func ParsePublicRoutes(value string) (PublicRoutes, []error) {
	var (
		routes   []PublicRoute
		problems []error
	)
	for _, entry := range strings.Split(value, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		words := strings.Fields(entry)
		if len(words) != 2 {
			problems = append(problems, fmt.Errorf("public route %q: want \"METHOD /path/prefix\" or \"METHOD =/exact/path\"", strings.TrimSpace(entry)))
			continue
		}
		path, exact := strings.CutPrefix(words[1], exactMark)
		r, err := checkPublicRoute(words[0], path)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		r.Exact = exact
		routes = append(routes, r)
	}
	return newPublicRoutes(routes), problems
}

// checkPublicRoute validates one entry. Methods must be spelled in upper
// case: HTTP methods are case-sensitive (RFC 9110, section 9.1), so "get"
// would not match GET requests and is more likely a mistake than a custom
// method. The root is accepted only as the site's (SitePrefix): it makes
// public the paths of the service that serves the site and no other's.
func checkPublicRoute(method, path string) (PublicRoute, error) {
	if method == "" || len(method) > 32 || strings.TrimLeft(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return PublicRoute{}, fmt.Errorf("public route %.80q: method must be an upper-case HTTP method such as GET", method+" "+path)
	}
	p, err := CleanPrefix(path)
	if err != nil {
		return PublicRoute{}, fmt.Errorf("public route %.80q: %w", method+" "+path, err)
	}
	return PublicRoute{Method: method, Path: p}, nil
}

// Allows reports whether a request with method for urlPath needs no token:
// an entry has the same method, or is a GET entry and the method is HEAD
// (a HEAD is a GET without the body, RFC 9110 section 9.3.2), and urlPath is
// the entry's path or, unless the entry is exact, continues it after a
// slash. "/api/v1/products" allows "/api/v1/products/42" but not
// "/api/v1/productsale"; "=/api/v1/users" allows "/api/v1/users" only, not
// "/api/v1/users/" or "/api/v1/users/me".
//
// A percent-encoded path (rawPath, the request's URL.RawPath, when set) must
// match too: the upstream may route on the encoded form, in which
// "/api/v1/products%2Fx" is not below "/api/v1/products", so a path that
// only looks public once decoded is treated as protected.
func (p PublicRoutes) Allows(method, urlPath, rawPath string) bool {
	for _, r := range p.routes {
		if r.Method != method && (method != http.MethodHead || r.Method != http.MethodGet) {
			continue
		}
		if matches(r, urlPath) && (rawPath == "" || matches(r, rawPath)) {
			return true
		}
	}
	return false
}

// under reports whether p is prefix or continues it at a segment boundary.
func under(p, prefix string) bool {
	if prefix == SitePrefix {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// overlaps reports whether some path can be below both a and b: one is
// below the other.
func overlaps(a, b string) bool { return under(a, b) || under(b, a) }

// Routes returns the entries, sorted by path and then method.
func (p PublicRoutes) Routes() []PublicRoute { return slices.Clone(p.routes) }

// Len returns the number of entries.
func (p PublicRoutes) Len() int { return len(p.routes) }

// String returns the entries in MetaPublicRoutes form, sorted.
func (p PublicRoutes) String() string {
	parts := make([]string, len(p.routes))
	for i, r := range p.routes {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Equal reports whether p and q make the same routes public.
func (p PublicRoutes) Equal(q PublicRoutes) bool { return slices.Equal(p.routes, q.routes) }

// within returns the entries that can match a path below one of prefixes,
// and the others. Requests are checked against the public routes of the
// service they are routed to, so an entry outside all of its prefixes can
// never match; it is most likely a typo worth a log line.
func (p PublicRoutes) within(prefixes []string) (PublicRoutes, []PublicRoute) {
	var in, out []PublicRoute
	for _, r := range p.routes {
		if r.Path == SitePrefix && !slices.Contains(prefixes, SitePrefix) {
			// Overlaps everything, but makes public only the site's own
			// paths: an API service cannot open all its routes with it.
			out = append(out, r)
			continue
		}
		if slices.ContainsFunc(prefixes, func(prefix string) bool { return overlaps(r.Path, prefix) }) {
			in = append(in, r)
		} else {
			out = append(out, r)
		}
	}
	return PublicRoutes{routes: in}, out
}
