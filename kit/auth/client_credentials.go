package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// TokenSource supplies the access token a service presents when it calls
// another service as itself.
type TokenSource interface {
	// Token returns a token that is valid now. Its errors are *errs.Error:
	// Unavailable when no token can be had at the moment (retry later),
	// Unauthenticated when the credentials were refused (a configuration
	// error that retrying will not fix).
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to TokenSource, for a fixed token in a
// test or a source of one's own.
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token implements TokenSource.
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Defaults of a ClientCredentials; see the options of the same names.
const (
	DefaultTokenFetchTimeout = 5 * time.Second
	DefaultTokenRetryDelay   = time.Second
)

// A token is used until refreshFraction of its lifetime has passed, then
// refreshed in the background while it is still handed out, up to
// expiryFraction. The rest is a margin for the time a call takes to reach
// the verifier, whose clocks may also run ahead (Leeway covers 30 s).
const (
	refreshFraction = 0.8
	expiryFraction  = 0.9
)

// The expires_in a ClientCredentials believes is clamped to this range: an
// absurd value (or one that overflows a time.Duration) must not pin a token
// forever, and a tiny one must not turn every call into a token request.
const (
	minTokenLifetime = 10 * time.Second
	maxTokenLifetime = 24 * time.Hour
)

// tokenLifetime is expires_in (seconds) clamped to the range above. It is
// clamped before it is turned into a Duration, which overflows past 292
// years.
func tokenLifetime(expiresIn int64) time.Duration {
	secs := min(max(expiresIn, int64(minTokenLifetime/time.Second)), int64(maxTokenLifetime/time.Second))
	return time.Duration(secs) * time.Second
}

// maxTokenResponseBytes bounds a token response; a real one is well under
// 2 KiB.
const maxTokenResponseBytes = 64 << 10

// Client-facing messages. A service's callers may see them when a call
// fails because of the service's own credentials.
const (
	msgServiceTokenUnavailable = "cannot authenticate to other services right now, try again later"
	msgServiceTokenRejected    = "service credentials were rejected by the token endpoint: check the client id and secret"
	msgNoServiceCredentials    = "service credentials are not configured: client id and secret required"
)

// ClientCredentialsOption configures a ClientCredentials.
type ClientCredentialsOption func(*clientCredentialsOptions)

type clientCredentialsOptions struct {
	fetchTimeout time.Duration
	retryDelay   time.Duration
	logger       log.Logger
}

// WithTokenFetchTimeout bounds one fetch, over all URLs (default
// DefaultTokenFetchTimeout).
func WithTokenFetchTimeout(d time.Duration) ClientCredentialsOption {
	return func(o *clientCredentialsOptions) {
		if d > 0 {
			o.fetchTimeout = d
		}
	}
}

// WithTokenRetryDelay sets how long after a failed fetch the next one may
// start (default DefaultTokenRetryDelay, or longer when the server sent a
// Retry-After). Meanwhile callers without a usable token get the failure at
// once, so an outage of the user service is not multiplied by the rate of
// calls.
func WithTokenRetryDelay(d time.Duration) ClientCredentialsOption {
	return func(o *clientCredentialsOptions) {
		if d > 0 {
			o.retryDelay = d
		}
	}
}

// WithTokenLogger logs each token obtained and each failed fetch (never the
// secret or the token) to logger. By default nothing is logged.
func WithTokenLogger(logger log.Logger) ClientCredentialsOption {
	return func(o *clientCredentialsOptions) {
		if logger != nil {
			o.logger = logger
		}
	}
}

// ClientCredentials is the TokenSource of a service account: it obtains
// tokens from the token endpoint with the account's client id and
// secret (the OAuth 2.0 client credentials grant) and keeps them.
//
// A token is reused until 80% of its lifetime has passed. Then the next
// Token call starts a refresh in the background and still returns the
// cached token, which stays in use until 90% of its lifetime, so a slow or
// briefly unavailable user service delays no call. Callers that need a
// token while none is usable wait for one fetch, however many they are; the
// fetch is detached from the cancellation of the call that started it,
// since it serves every caller, and bounded by the fetch timeout instead.
//
// A fetch tries the URLs in order until one issues a token: another
// instance may answer when one is down or throttling. When all fail, the
// error is errs.Unavailable, or errs.Unauthenticated if an instance
// refused the credentials (HTTP 401), which means a wrong client id or
// secret. After a failure the next fetch waits for the retry delay. There
// is no goroutine to stop: fetches run on demand and end within the fetch
// timeout.
//
// Redirects are not followed: the secret goes only to the URLs given. It is
// safe for concurrent use.
type ClientCredentials struct {
	urls     func() []string
	clientID string
	secret   string
	client   *http.Client
	opts     clientCredentialsOptions

	mu        sync.Mutex
	token     string
	refreshAt time.Time     // when to refresh the token in the background
	expireAt  time.Time     // when to stop handing the token out
	lastErr   error         // outcome of the last fetch, nil after a success
	retryAt   time.Time     // no fetch before this, after a failure
	inflight  chan struct{} // closed when the running fetch completes; nil if none runs
}

// NewClientCredentials returns a TokenSource for the service account
// clientID with clientSecret. tokenURLs is called on every fetch, so it can
// follow service discovery, for example the instances of the issuing service from a
// kit/consul Watcher as "http://" + i.HTTPAddr() + "/oauth/token". A nil client
// means a plain client with DefaultTokenFetchTimeout. Nothing is fetched
// until the first Token call.
func NewClientCredentials(tokenURLs func() []string, clientID, clientSecret string, client *http.Client, opts ...ClientCredentialsOption) *ClientCredentials {
	o := clientCredentialsOptions{
		fetchTimeout: DefaultTokenFetchTimeout,
		retryDelay:   DefaultTokenRetryDelay,
		logger:       log.NewNopLogger(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	var c http.Client
	if client != nil {
		c = *client // a copy: the caller's client keeps its redirect policy
	} else {
		c.Timeout = o.fetchTimeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &ClientCredentials{urls: tokenURLs, clientID: clientID, secret: clientSecret, client: &c, opts: o}
}

// String describes c by its client id, so that printing it (%v, %+v) never
// shows the secret.
func (c *ClientCredentials) String() string {
	return "auth.ClientCredentials{client_id=" + strconv.Quote(c.clientID) + "}"
}

// GoString is String for %#v.
func (c *ClientCredentials) GoString() string { return c.String() }

// Token implements TokenSource. It returns the cached token when it is
// usable, and otherwise waits for a fetch, until ctx ends (errs.Unavailable).
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	if c.clientID == "" || c.secret == "" {
		return "", errs.New(errs.Unauthenticated, msgNoServiceCredentials)
	}
	c.mu.Lock()
	now := time.Now()
	if c.usableLocked(now) {
		token := c.token
		if !now.Before(c.refreshAt) && c.inflight == nil && !now.Before(c.retryAt) {
			c.startFetchLocked(ctx) // due for a refresh: fetch behind, answer now
		}
		c.mu.Unlock()
		return token, nil
	}
	done := c.inflight
	if done == nil {
		if c.lastErr != nil && now.Before(c.retryAt) {
			err := heldError(c.lastErr, c.retryAt.Sub(now))
			c.mu.Unlock()
			return "", err
		}
		done = c.startFetchLocked(ctx)
	}
	c.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		return "", errs.Wrap(ctx.Err(), errs.Unavailable, msgServiceTokenUnavailable)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.usableLocked(time.Now()) {
		return c.token, nil
	}
	if c.lastErr != nil {
		return "", c.lastErr
	}
	// A token that expired between its fetch and now: only with a lifetime
	// shorter than a scheduling delay.
	return "", errs.New(errs.Unavailable, msgServiceTokenUnavailable)
}

func (c *ClientCredentials) usableLocked(now time.Time) bool {
	return c.token != "" && now.Before(c.expireAt)
}

// heldError is a failure returned again while fetches wait for retryAt; an
// Unavailable one says how long.
func heldError(err error, wait time.Duration) error {
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Unavailable {
		return err
	}
	held := *e
	held.RetryAfter = wait
	return &held
}

// startFetchLocked starts a fetch and returns the channel closed when it
// completes. The fetch keeps ctx's values (the request id) but not its
// cancellation: it serves every caller waiting for it.
func (c *ClientCredentials) startFetchLocked(ctx context.Context) chan struct{} {
	done := make(chan struct{})
	c.inflight = done
	go c.runFetch(context.WithoutCancel(ctx), done)
	return done
}

func (c *ClientCredentials) runFetch(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.fetchTimeout)
	defer cancel()

	// The lifetime counts from before the request: the token was issued at
	// some point after this.
	start := time.Now()
	resp, err := c.fetch(ctx)

	c.mu.Lock()
	if err == nil {
		lifetime := tokenLifetime(resp.ExpiresIn)
		c.token = resp.AccessToken
		c.refreshAt = start.Add(time.Duration(float64(lifetime) * refreshFraction))
		c.expireAt = start.Add(time.Duration(float64(lifetime) * expiryFraction))
		c.lastErr = nil
		c.retryAt = time.Time{}
		level.Info(c.opts.logger).Log("msg", "service token obtained", "client_id", c.clientID, "expires_in", lifetime)
	} else {
		c.lastErr = err
		c.retryAt = time.Now().Add(max(c.opts.retryDelay, errs.RetryAfterOf(err)))
		level.Warn(c.opts.logger).Log("msg", "fetching service token failed", "client_id", c.clientID,
			"kind", errs.KindOf(err), "cached_token_usable", c.usableLocked(time.Now()), "err", err)
	}
	c.inflight = nil
	c.mu.Unlock()
	close(done)
}

// tokenResponse is the success response of a token endpoint (RFC 6749
// section 5.1).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// statusError is a token endpoint's refusal.
type statusError struct {
	status     int
	retryAfter time.Duration
}

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.status) }

// fetch asks each URL in turn for a token.
func (c *ClientCredentials) fetch(ctx context.Context) (tokenResponse, error) {
	candidates := c.urls()
	if len(candidates) == 0 {
		return tokenResponse{}, errs.Wrap(errors.New("no token endpoint to fetch from"), errs.Unavailable, msgServiceTokenUnavailable)
	}
	var (
		failures   []error
		rejected   bool
		retryAfter time.Duration // the shortest wait a server asked for
	)
	for _, u := range candidates {
		resp, err := c.post(ctx, u)
		if err == nil {
			return resp, nil
		}
		var se *statusError
		if errors.As(err, &se) {
			rejected = rejected || se.status == http.StatusUnauthorized
			if se.retryAfter > 0 && (retryAfter == 0 || se.retryAfter < retryAfter) {
				retryAfter = se.retryAfter
			}
		}
		failures = append(failures, fmt.Errorf("%s: %w", redactURL(u), err))
		if ctx.Err() != nil {
			break
		}
	}
	cause := errors.Join(failures...)
	if rejected {
		// One instance that knows the account refusing it settles it; a
		// secret rolled out to some instances only was tried on the others.
		return tokenResponse{}, errs.Wrap(cause, errs.Unauthenticated, msgServiceTokenRejected)
	}
	return tokenResponse{}, &errs.Error{Kind: errs.Unavailable, Message: msgServiceTokenUnavailable, RetryAfter: retryAfter, Err: cause}
}

// post requests a token from one URL. The credentials go in the form body
// (client_secret_post), which every OAuth server and kitshop's accepts.
func (c *ClientCredentials) post(ctx context.Context, u string) (tokenResponse, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.clientID},
		"client_secret": {c.secret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return tokenResponse{}, err // *url.Error: method, URL and cause; never the body
	}
	defer resp.Body.Close()
	// Drain what is left so the connection can be reused.
	defer io.Copy(io.Discard, io.LimitReader(resp.Body, maxTokenResponseBytes))

	if resp.StatusCode != http.StatusOK {
		return tokenResponse{}, &statusError{status: resp.StatusCode, retryAfter: retryAfterSeconds(resp.Header.Get("Retry-After"))}
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return tokenResponse{}, fmt.Errorf("content type %.64q is not application/json", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponseBytes+1))
	if err != nil {
		return tokenResponse{}, err
	}
	if len(body) > maxTokenResponseBytes {
		return tokenResponse{}, fmt.Errorf("response larger than %d bytes", maxTokenResponseBytes)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return tokenResponse{}, fmt.Errorf("decoding token response: %w", err)
	}
	switch {
	case tr.AccessToken == "" || len(tr.AccessToken) > MaxTokenBytes || !isToken68(tr.AccessToken):
		// The reason, never the token: it would end up in a log.
		return tokenResponse{}, errors.New("token response has no usable access_token")
	case !strings.EqualFold(tr.TokenType, "Bearer"):
		return tokenResponse{}, fmt.Errorf("token_type %.32q, want Bearer", tr.TokenType)
	case tr.ExpiresIn <= 0:
		return tokenResponse{}, fmt.Errorf("expires_in %d, want a positive number of seconds", tr.ExpiresIn)
	}
	return tr, nil
}

// retryAfterSeconds reads a Retry-After of delay-seconds; anything else is
// no hint.
func retryAfterSeconds(v string) time.Duration {
	s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || s <= 0 || s > int64(maxTokenLifetime/time.Second) {
		return 0
	}
	return time.Duration(s) * time.Second
}

// redactURL hides a password in u, should one have been put there.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return parsed.Redacted()
}
