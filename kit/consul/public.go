package consul

import "strings"

// MetaPublicRoutes is the service meta key in which a service lists the
// routes a gateway lets through without an access token, as comma-separated
// "METHOD /path/prefix" or "METHOD =/exact/path" entries:
//
//	GET /api/v1/widgets,POST =/api/v1/sessions
//
// A prefix entry makes the path and everything below it public; an exact
// entry, marked with "=" as in nginx's "location = /path", only the path
// itself. "POST /api/v1/accounts" would let every POST below the collection
// through without a token; "POST =/api/v1/accounts" lets only the sign-up
// through. Everything else under the service's prefixes needs a valid token.
const MetaPublicRoutes = "public_routes"

// PublicRoute is one entry of a service's public routes: requests with
// Method whose path is Path, or, unless Exact, continues it after a slash,
// need no token.
type PublicRoute struct {
	Method string // upper case, as HTTP methods are case-sensitive
	Path   string // a clean path prefix
	Exact  bool   // only Path itself, not the paths below it
}

// exactMark marks an exact entry in MetaPublicRoutes: "POST =/api/v1/accounts".
const exactMark = "="

// String returns the entry as it is written in MetaPublicRoutes.
func (r PublicRoute) String() string {
	if r.Exact {
		return r.Method + " " + exactMark + r.Path
	}
	return r.Method + " " + r.Path
}

// FormatPublicRoutes returns routes as a MetaPublicRoutes value.
func FormatPublicRoutes(routes []PublicRoute) string {
	entries := make([]string, len(routes))
	for i, r := range routes {
		entries[i] = r.String()
	}
	return strings.Join(entries, ",")
}
