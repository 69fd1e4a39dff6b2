package app

import (
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
)

// Keys returns the source of the token signing keys: the fixed JWKS URLs
// when there are any, otherwise the JWKS endpoints of service's healthy
// instances in Consul (consul.KeySource), stopped when the App closes.
func (a *App) Keys(service string, fixedURLs []string) auth.KeySource {
	if len(fixedURLs) > 0 {
		return auth.NewJWKSCache(auth.HTTPJWKSFetcher(nil, func() []string { return fixedURLs }), a.Log("auth"))
	}
	keys := consul.NewKeySource(a.Consul, service, nil, a.Log("auth"))
	a.Defer(keys.Stop)
	return keys
}

// URLs returns the URLs of path on service's healthy instances in Consul,
// read when called, or fixedURLs when there are any.
func (a *App) URLs(service, path string, fixedURLs []string) func() []string {
	if len(fixedURLs) > 0 {
		return func() []string { return fixedURLs }
	}
	w := a.Watch(service)
	return func() []string {
		var urls []string
		for _, in := range w.Instances() {
			if addr := in.HTTPAddr(); addr != "" {
				urls = append(urls, "http://"+addr+path)
			}
		}
		return urls
	}
}
