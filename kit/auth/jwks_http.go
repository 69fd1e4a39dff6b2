package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// JWKSPath is where the user service serves its key set.
const JWKSPath = "/.well-known/jwks.json"

// maxJWKSBytes bounds a key set document; a handful of keys is a few
// hundred bytes.
const maxJWKSBytes = 256 << 10

// defaultJWKSClientTimeout bounds a fetch when HTTPJWKSFetcher is given no
// client; http.DefaultClient would wait forever.
const defaultJWKSClientTimeout = 5 * time.Second

// HTTPJWKSFetcher returns a fetch function for NewJWKSCache that GETs a
// JWKS document from the URLs urls returns, trying them in order until one
// answers with a well-formed set. urls is called on every fetch, so it can
// follow service discovery, for example the instances of the issuing service from a
// kit/consul Watcher as "http://" + i.HTTPAddr() + JWKSPath. A nil client
// means a plain client with a 5 second timeout.
//
// The keys decide whose tokens are believed, so they are fetched only from
// the URLs given: redirects are not followed (a 3xx is a failed fetch) and
// the HTTP_PROXY/HTTPS_PROXY environment is ignored, also for a client
// passed in (whose *http.Transport, if it has one, is cloned without its
// proxy).
//
// When every URL fails (or there is none) the error is errs.Unavailable,
// with each URL's failure in the cause.
func HTTPJWKSFetcher(client *http.Client, urls func() []string) func(context.Context) (JWKS, error) {
	client = jwksClient(client)
	return func(ctx context.Context) (JWKS, error) {
		candidates := urls()
		if len(candidates) == 0 {
			return JWKS{}, errs.Wrap(errors.New("no JWKS URL to fetch from"), errs.Unavailable, msgKeysUnavailable)
		}
		var failures []error
		for _, u := range candidates {
			set, err := getJWKS(ctx, client, u)
			if err == nil {
				return set, nil
			}
			failures = append(failures, fmt.Errorf("%s: %w", u, err))
			if ctx.Err() != nil {
				break
			}
		}
		return JWKS{}, errs.Wrap(errors.Join(failures...), errs.Unavailable, msgKeysUnavailable)
	}
}

// errJWKSRedirect is why a redirect is not followed.
var errJWKSRedirect = errors.New("the JWKS URL redirects; key sets are only fetched from the URLs configured")

// jwksClient returns a copy of c (nil: a client with the default timeout)
// that follows no redirect and uses no proxy.
func jwksClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: defaultJWKSClientTimeout}
	}
	out := *c
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return errJWKSRedirect }
	switch t := c.Transport.(type) {
	case nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		out.Transport = tr
	case *http.Transport:
		if t.Proxy != nil {
			tr := t.Clone()
			tr.Proxy = nil
			out.Transport = tr
		}
	}
	return &out
}

func getJWKS(ctx context.Context, client *http.Client, url string) (JWKS, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return JWKS{}, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return JWKS{}, err
	}
	defer resp.Body.Close()
	// Drain what is left so the connection can be reused.
	defer io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))

	if resp.StatusCode != http.StatusOK {
		return JWKS{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return JWKS{}, fmt.Errorf("content type %.64q is not JSON", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return JWKS{}, err
	}
	if len(body) > maxJWKSBytes {
		return JWKS{}, fmt.Errorf("document larger than %d bytes", maxJWKSBytes)
	}
	var set JWKS
	if err := json.Unmarshal(body, &set); err != nil {
		return JWKS{}, fmt.Errorf("decoding jwks: %w", err)
	}
	return set, nil
}
