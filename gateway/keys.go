package gateway

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"sync"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
)

// DefaultAuthService is the service whose keys sign access tokens.
const DefaultAuthService = "user"

// ConsulKeys is the gateway's KeySource in production: an auth.JWKSCache
// over the key set (auth.JWKSPath) of the passing instances of the service
// that issues tokens, as Consul lists them. It is safe for concurrent use.
//
// Besides the cache's own refreshes (on an unknown key id, and when the set
// grows old), it fetches the keys whenever the issuer's set of instances
// changes: a user service that has just started has its keys known before
// the first token it issues arrives, and one restarted with a new key costs
// no request a wait. While the issuer is down, tokens signed with keys
// already known keep working (see auth.JWKSCache).
type ConsulKeys struct {
	cache    *auth.JWKSCache
	watcher  *consul.Watcher
	client   *http.Client
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// NewConsulKeys starts following the instances of service (normally
// DefaultAuthService) through c. Options tune the watcher. Call Stop to end
// it.
func NewConsulKeys(c consul.Client, service string, logger log.Logger, opts ...consul.Option) *ConsulKeys {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	watcher := consul.NewWatcher(c, service, logger, opts...)
	// The issuer is internal: no environment proxy, and a timeout even
	// when a fetch is started without a deadline.
	client := &http.Client{Timeout: auth.DefaultFetchTimeout, Transport: NewTransport()}
	urls := func() []string {
		var out []string
		for _, in := range watcher.Instances() {
			if addr := in.HTTPAddr(); addr != "" {
				out = append(out, "http://"+addr+auth.JWKSPath)
			}
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &ConsulKeys{
		cache:   auth.NewJWKSCache(auth.HTTPJWKSFetcher(client, urls), log.With(logger, "component", "gateway.keys", "service", service)),
		watcher: watcher,
		client:  client,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	changes, unsubscribe := watcher.Subscribe()
	go k.run(ctx, changes, unsubscribe)
	return k
}

// run refetches the keys whenever the issuer's instances change.
func (k *ConsulKeys) run(ctx context.Context, changes <-chan []consul.Instance, unsubscribe func()) {
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

// PublicKey implements auth.KeySource. It returns an errs.Unauthenticated
// error when the issuer has no key kid, and an errs.Unavailable error when
// its keys cannot be fetched.
func (k *ConsulKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	return k.cache.PublicKey(ctx, kid)
}

// Kids returns the ids of the keys known, sorted.
func (k *ConsulKeys) Kids() []string { return k.cache.Kids() }

// Stop ends the watch and waits for it. It is safe to call more than once.
func (k *ConsulKeys) Stop() {
	k.stopOnce.Do(func() {
		k.cancel()
		<-k.done
		k.watcher.Stop()
		k.client.CloseIdleConnections()
	})
}
