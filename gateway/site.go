package gateway

import "strings"

// SitePrefix is the prefix of a site served at the root next to the API: a
// server-rendered storefront, say, that announces "/" in its api_prefix and
// "GET /,POST /" as its public routes (it authenticates its visitors with
// cookies of its own). The site gets the paths no other route matches,
// except those under APIRoot: an API path nobody serves stays a 404 problem
// document, not a web page.
const SitePrefix = "/"

// APIRoot is where the API lives; the site never serves below it.
const APIRoot = "/api"

// siteFallback returns the site's route for urlPath, which matched no other
// prefix, unless there is no site or the path is under APIRoot.
func (t *Table) siteFallback(urlPath string) (*Route, bool) {
	if t.site == nil || urlPath == "" || urlPath[0] != '/' {
		return nil, false
	}
	// Letter case is ignored: /API/v1/x is a mistyped API path, not a page.
	if head := urlPath[:min(len(urlPath), len(APIRoot)+1)]; strings.EqualFold(head, APIRoot) || strings.EqualFold(head, APIRoot+"/") {
		return nil, false
	}
	return t.site, true
}
