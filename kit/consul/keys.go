package consul

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"sync"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
)

// KeySource is an auth.KeySource for the keys that sign access tokens,
// fetched from the JWKS endpoint (auth.JWKSPath) of the healthy instances
// of the service that issues them. It fetches when a token names a key it
// has not seen (auth.JWKSCache) and, ahead of need, whenever that service's
// instances change, so a rotated key is known before the first token signed
// with it arrives. Stop it when done.
type KeySource struct {
	cache   *auth.JWKSCache
	watcher *Watcher
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// NewKeySource follows service's instances in Consul and serves their keys.
// client fetches the key sets; nil means auth's default client (no
// redirects, no environment proxies).
func NewKeySource(c Client, service string, client *http.Client, logger log.Logger, opts ...Option) *KeySource {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	watcher := NewWatcher(c, service, logger, opts...)
	urls := func() []string {
		var out []string
		for _, in := range watcher.Instances() {
			if addr := in.HTTPAddr(); addr != "" {
				out = append(out, "http://"+addr+auth.JWKSPath)
			}
		}
		return out
	}
	fetch := auth.HTTPJWKSFetcher(client, urls)
	ctx, cancel := context.WithCancel(context.Background())
	k := &KeySource{
		cache: auth.NewJWKSCache(func(ctx context.Context) (auth.JWKS, error) {
			// A call right after start must not find the instance list empty
			// only because Consul has not answered yet. If it does not
			// answer, the fetch fails for want of a URL.
			_ = watcher.Ready(ctx)
			return fetch(ctx)
		}, log.With(logger, "component", "keys", "issuer", service)),
		watcher: watcher,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	changes, unsubscribe := watcher.Subscribe()
	go k.refresh(ctx, changes, unsubscribe)
	return k
}

// refresh fetches the keys whenever the issuer's instances change.
func (k *KeySource) refresh(ctx context.Context, changes <-chan []Instance, unsubscribe func()) {
	defer close(k.done)
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case instances, ok := <-changes:
			if !ok {
				return
			}
			if len(instances) == 0 {
				continue // nobody to ask; the known keys stay
			}
			rctx, cancel := context.WithTimeout(ctx, auth.DefaultFetchTimeout)
			k.cache.Refresh(rctx) // a failure is logged by the cache and retried on demand
			cancel()
		}
	}
}

// PublicKey implements auth.KeySource.
func (k *KeySource) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	return k.cache.PublicKey(ctx, kid)
}

// HasKey implements auth.KeyChecker, so a Verifier forgets the tokens it
// remembered once their key leaves the issuer's key set.
func (k *KeySource) HasKey(kid string, key ed25519.PublicKey) bool { return k.cache.HasKey(kid, key) }

// Kids returns the ids of the keys known now.
func (k *KeySource) Kids() []string { return k.cache.Kids() }

// Stop ends the refreshes and the watch. It is safe to call more than once.
func (k *KeySource) Stop() {
	k.once.Do(func() {
		k.cancel()
		<-k.done
		k.watcher.Stop()
	})
}
