package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

func TestJWKPublicKey(t *testing.T) {
	s := authtest.NewSigner(t)
	good := auth.PublicJWK("k1", s.Public)
	tests := []struct {
		name    string
		edit    func(*auth.JWK)
		wantErr bool
	}{
		{"published key", func(*auth.JWK) {}, false},
		{"alg and use may be absent", func(k *auth.JWK) { k.Alg, k.Use = "", "" }, false},
		{"RSA key type", func(k *auth.JWK) { k.Kty = "RSA" }, true},
		{"X25519 curve", func(k *auth.JWK) { k.Crv = "X25519" }, true},
		{"other algorithm", func(k *auth.JWK) { k.Alg = "RS256" }, true},
		{"encryption key", func(k *auth.JWK) { k.Use = "enc" }, true},
		{"x not base64url", func(k *auth.JWK) { k.X = "!!!" }, true},
		{"x padded", func(k *auth.JWK) { k.X = base64.URLEncoding.EncodeToString(s.Public) }, true},
		{"x too short", func(k *auth.JWK) { k.X = base64.RawURLEncoding.EncodeToString(s.Public[:31]) }, true},
		{"x missing", func(k *auth.JWK) { k.X = "" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good
			tt.edit(&k)
			got, err := k.PublicKey()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("PublicKey accepted %+v", k)
				}
				return
			}
			if err != nil {
				t.Fatalf("PublicKey: %v", err)
			}
			if !got.Equal(s.Public) {
				t.Errorf("PublicKey = %x, want %x", got, s.Public)
			}
		})
	}
}

// fakeJWKS is a JWKS fetch function whose answer tests change, and which
// counts its calls. With a gate, fetches wait until the gate is opened.
type fakeJWKS struct {
	mu    sync.Mutex
	set   auth.JWKS
	err   error
	calls int
	gate  chan struct{}
}

func newFakeJWKS(signers ...*authtest.Signer) *fakeJWKS {
	f := &fakeJWKS{}
	f.publish(signers...)
	return f
}

func (f *fakeJWKS) publish(signers ...*authtest.Signer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = auth.JWKS{}
	for _, s := range signers {
		f.set.Keys = append(f.set.Keys, s.JWK())
	}
	f.err = nil
}

func (f *fakeJWKS) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeJWKS) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

func (f *fakeJWKS) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.gate)
	f.gate = nil
}

func (f *fakeJWKS) fetch(ctx context.Context) (auth.JWKS, error) {
	f.mu.Lock()
	f.calls++
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return auth.JWKS{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set, f.err
}

func (f *fakeJWKS) fetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

const (
	minRefresh      = 10 * time.Second
	refreshInterval = 5 * time.Minute
)

func newCache(f *fakeJWKS) *auth.JWKSCache {
	return auth.NewJWKSCache(f.fetch, log.NewNopLogger(),
		auth.WithMinRefresh(minRefresh), auth.WithRefreshInterval(refreshInterval), auth.WithFetchTimeout(time.Second))
}

// lookup asks c for s's key and fails t unless the outcome has wantKind
// (errs.Internal meaning success, with s's key).
func lookup(t *testing.T, c *auth.JWKSCache, s *authtest.Signer, wantKind errs.Kind) error {
	t.Helper()
	key, err := c.PublicKey(t.Context(), s.Kid)
	if wantKind == errs.Internal {
		if err != nil {
			t.Fatalf("PublicKey(%s): %v", s.Kid, err)
		}
		if !key.Equal(s.Public) {
			t.Fatalf("PublicKey(%s) returned another key", s.Kid)
		}
		return nil
	}
	if got := errs.KindOf(err); got != wantKind {
		t.Fatalf("PublicKey(%s): kind %v (err %v), want %v", s.Kid, got, err, wantKind)
	}
	return err
}

func wantFetches(t *testing.T, f *fakeJWKS, want int) {
	t.Helper()
	if got := f.fetches(); got != want {
		t.Fatalf("fetches = %d, want %d", got, want)
	}
}

func TestJWKSCacheKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old, next := authtest.NewSigner(t), authtest.NewSigner(t)
		f := newFakeJWKS(old)
		c := newCache(f)

		lookup(t, c, old, errs.Internal)
		lookup(t, c, old, errs.Internal)
		wantFetches(t, f, 1)

		// The issuer rotates: it publishes the next key and retires the old one.
		time.Sleep(minRefresh)
		f.publish(next)
		lookup(t, c, next, errs.Internal) // unknown kid: refetch
		wantFetches(t, f, 2)
		lookup(t, c, old, errs.Unauthenticated) // gone from the set; no refetch so soon
		wantFetches(t, f, 2)
		if got, want := strings.Join(c.Kids(), ","), next.Kid; got != want {
			t.Errorf("Kids = %s, want %s", got, want)
		}
	})
}

func TestJWKSCacheUnknownKidAfterRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, stranger := authtest.NewSigner(t), authtest.NewSigner(t)
		f := newFakeJWKS(s)
		c := newCache(f)
		if err := c.Refresh(t.Context()); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		time.Sleep(minRefresh)

		// Through the Verifier, as a request would.
		_, err := auth.NewVerifier(c, authtest.Issuer, authtest.Audience).Verify(t.Context(), stranger.Token("user-1"))
		wantUnauthenticated(t, err)
		wantFetches(t, f, 2)
	})
}

func TestJWKSCacheConcurrentLookupsShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		f.close()
		c := newCache(f)

		const callers = 50
		var wg sync.WaitGroup
		errc := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				_, err := c.PublicKey(t.Context(), s.Kid)
				errc <- err
			})
		}
		synctest.Wait() // every caller is now waiting for the one fetch
		wantFetches(t, f, 1)
		f.open()
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Errorf("PublicKey: %v", err)
			}
		}
		wantFetches(t, f, 1)
	})
}

func TestJWKSCacheRateLimitsUnknownKids(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		c := newCache(f)
		lookup(t, c, s, errs.Internal)
		time.Sleep(minRefresh)

		// Forged tokens with ever new kids must not turn into a flood of fetches.
		for i := range 20 {
			forged := authtest.NewSigner(t)
			lookup(t, c, forged, errs.Unauthenticated)
			if i == 0 {
				wantFetches(t, f, 2) // the first unknown kid may refetch...
			}
			time.Sleep(100 * time.Millisecond)
		}
		wantFetches(t, f, 2) // ...the others within MinRefresh may not

		time.Sleep(minRefresh)
		lookup(t, c, authtest.NewSigner(t), errs.Unauthenticated)
		wantFetches(t, f, 3)
	})
}

func TestJWKSCacheFetchErrorIsUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		f.fail(errors.New("dial tcp 10.0.0.7:8083: connection refused"))
		c := newCache(f)

		err := lookup(t, c, s, errs.Unavailable)
		if strings.Contains(errs.Message(err), "10.0.0.7") {
			t.Errorf("message %q leaks the cause", errs.Message(err))
		}
		if got := errs.RetryAfterOf(err); got <= 0 || got > minRefresh {
			t.Errorf("RetryAfter = %v, want (0, %v]", got, minRefresh)
		}

		// A JWKS outage is a 503 for the client, not a 401 that would send
		// it to log in again; and it does not hammer the issuer either.
		_, err = auth.NewVerifier(c, authtest.Issuer, authtest.Audience).Verify(t.Context(), s.Token("user-1"))
		if got := errs.KindOf(err); got != errs.Unavailable {
			t.Errorf("Verify: kind %v (err %v), want unavailable", got, err)
		}
		wantFetches(t, f, 1)

		time.Sleep(minRefresh)
		f.publish(s)
		lookup(t, c, s, errs.Internal)
		wantFetches(t, f, 2)
	})
}

func TestJWKSCacheKeepsKeysDuringOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		c := newCache(f)
		lookup(t, c, s, errs.Internal)

		f.fail(errors.New("issuer down"))
		time.Sleep(refreshInterval)
		lookup(t, c, s, errs.Internal) // stale: answered at once, refreshed behind
		synctest.Wait()
		wantFetches(t, f, 2)
		lookup(t, c, s, errs.Internal) // the refresh failed; the key stays
		lookup(t, c, authtest.NewSigner(t), errs.Unavailable)
		wantFetches(t, f, 2)
	})
}

func TestJWKSCachePeriodicRefreshDropsWithdrawnKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		withdrawn, kept := authtest.NewSigner(t), authtest.NewSigner(t)
		f := newFakeJWKS(withdrawn, kept)
		c := newCache(f)
		lookup(t, c, withdrawn, errs.Internal)

		f.publish(kept)
		time.Sleep(refreshInterval - time.Second)
		lookup(t, c, withdrawn, errs.Internal)
		synctest.Wait()
		wantFetches(t, f, 1) // not stale yet

		time.Sleep(time.Second)
		lookup(t, c, kept, errs.Internal) // stale: triggers the refresh
		synctest.Wait()
		wantFetches(t, f, 2)
		lookup(t, c, withdrawn, errs.Unauthenticated)
		lookup(t, c, kept, errs.Internal)
	})
}

func TestJWKSCacheCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		f.close()
		c := newCache(f)

		ctx, cancel := context.WithCancel(t.Context())
		impatient := make(chan error, 1)
		go func() {
			_, err := c.PublicKey(ctx, s.Kid)
			impatient <- err
		}()
		patient := make(chan error, 1)
		go func() {
			_, err := c.PublicKey(t.Context(), s.Kid)
			patient <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-impatient; errs.KindOf(err) != errs.Unavailable {
			t.Errorf("canceled lookup: kind %v (err %v), want unavailable", errs.KindOf(err), err)
		}

		// The fetch the impatient caller started goes on for the other one.
		f.open()
		if err := <-patient; err != nil {
			t.Errorf("patient lookup: %v", err)
		}
		wantFetches(t, f, 1)
	})
}

func TestJWKSCacheFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		f.close() // never opened: the fetch hangs until its timeout
		c := newCache(f)

		start := time.Now()
		lookup(t, c, s, errs.Unavailable)
		if got := time.Since(start); got != time.Second {
			t.Errorf("lookup took %v, want the fetch timeout of 1s", got)
		}
	})
}

func TestJWKSCacheUnusableSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		c := newCache(f)
		lookup(t, c, s, errs.Internal)

		// A set with nothing kitshop can use is a broken document, not an
		// instruction to forget every key.
		rsa := auth.JWK{Kty: "RSA", Kid: "rsa-1", Alg: "RS256", Use: "sig"}
		noKid := s.JWK()
		noKid.Kid = ""
		f.mu.Lock()
		f.set = auth.JWKS{Keys: []auth.JWK{rsa, noKid}}
		f.mu.Unlock()
		time.Sleep(minRefresh)
		lookup(t, c, authtest.NewSigner(t), errs.Unavailable)
		lookup(t, c, s, errs.Internal)
		wantFetches(t, f, 2)
	})
}

func TestJWKSCacheSkipsForeignKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := authtest.NewSigner(t)
		f := newFakeJWKS(s)
		f.mu.Lock()
		f.set.Keys = append([]auth.JWK{{Kty: "RSA", Kid: "rsa-1"}}, f.set.Keys...)
		f.mu.Unlock()
		c := newCache(f)
		lookup(t, c, s, errs.Internal)
		if got, want := strings.Join(c.Kids(), ","), s.Kid; got != want {
			t.Errorf("Kids = %s, want %s", got, want)
		}
	})
}
