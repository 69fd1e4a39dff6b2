package gateway

// Breakers returns how many instance breakers g keeps, for the tests.
func (g *Gateway) Breakers() int { return g.breakers.len() }

// Within exposes PublicRoutes.within, for the tests.
func (p PublicRoutes) Within(prefixes []string) (PublicRoutes, []PublicRoute) {
	return p.within(prefixes)
}
