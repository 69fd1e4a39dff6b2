package gateway

// Breakers returns how many instance breakers g keeps, for the tests.
func (g *Gateway) Breakers() int { return g.breakers.len() }
