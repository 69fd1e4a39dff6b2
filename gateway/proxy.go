package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
)

// NewTransport returns the transport the gateway shares across all upstream
// requests: keep-alive connections pooled generously per instance (a gateway
// talks to few hosts at a high rate, and the default of 2 idle connections
// per host would make it dial on nearly every request under load), a short
// dial timeout so a dead instance fails fast and the retry still fits in the
// request's time, and no transparent compression, so responses pass through
// byte for byte. Environment proxies are ignored: upstreams are internal.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   2 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		DisableCompression:     true,
	}
}

// Client-safe messages of the errors the gateway produces; the causes go to
// the log.
const (
	msgBodyTooBig  = "request body too large"
	msgUnavailable = "service temporarily unavailable"
	msgTimeout     = "upstream timed out"
)

// Retry-After hints. With no instance at all, recovery takes a restart or a
// passing health check, seconds at best; a failed attempt may be a blip.
const (
	noInstanceRetry = 5 * time.Second
	failedRetry     = time.Second
)

// errBodyTooBig wraps a MaxBytesError, so the client gets a 413 (see
// httpx.BodyTooLarge).
var errBodyTooBig = errs.Wrap(&http.MaxBytesError{}, errs.Invalid, msgBodyTooBig)

// unavailable returns an Unavailable error with a retry hint.
func unavailable(cause error, msg string, retryAfter time.Duration) error {
	return &errs.Error{Kind: errs.Unavailable, Message: msg, RetryAfter: retryAfter, Err: cause}
}

// forwarder is the http.RoundTripper behind the gateway's ReverseProxy. The
// proxy hands it one outgoing request; it picks an instance, runs the attempt
// through the instance's breaker within the upstream timeout, and retries
// once on another instance when that is safe.
type forwarder struct {
	transport http.RoundTripper
	timeout   atomic.Int64 // time.Duration; live: SetUpstreamTimeout
	picker
	breakers *breakers
	logger   log.Logger
}

// attemptResult is what one attempt on one instance produced.
type attemptResult struct {
	resp    *http.Response
	err     error // classified *errs.Error when resp is nil
	notSent bool  // the request provably never reached the instance
}

// RoundTrip implements http.RoundTripper. Errors are *errs.Error values
// ready for httpx.WriteError.
func (f *forwarder) RoundTrip(out *http.Request) (*http.Response, error) {
	c := callFrom(out.Context())
	if c == nil {
		return nil, errs.Wrap(errors.New("gateway: request without routing state"), errs.Internal, "")
	}
	var tried string
	skip := func(in consul.Instance) bool {
		return in.ID == tried || f.breakers.skip(c.route.Service, in.ID)
	}
	in, ok := f.next(c.route.Service, c.route.Instances, skip)
	if !ok {
		return nil, unavailable(errors.New("every instance's circuit breaker is open or the instance is unresponsive"), msgUnavailable, noInstanceRetry)
	}
	res := f.attempt(out, c, in, 1)
	if !f.retryable(out, c, res) {
		return res.resp, res.err
	}
	tried = in.ID
	next, ok := f.next(c.route.Service, c.route.Instances, skip)
	if !ok {
		return res.resp, res.err // nobody else to ask: the first answer stands
	}
	reason := any(res.err)
	if res.resp != nil {
		reason = res.resp.Status
		discard(res.resp)
	}
	level.Warn(logging.WithRequest(f.logger, out.Context())).Log("msg", "retrying on another instance", "service", c.route.Service, "instance", in.ID,
		"next", next.ID, "reason", reason)
	res = f.attempt(out, c, next, 2)
	return res.resp, res.err
}

// retryable decides whether a failed attempt may be repeated elsewhere.
func (f *forwarder) retryable(out *http.Request, c *call, res attemptResult) bool {
	if out.Context().Err() != nil {
		return false // the client is gone
	}
	if res.notSent {
		// Nothing reached the instance, so this is safe for any method, as
		// long as the body is still whole.
		return c.body.replayable()
	}
	if c.body.stream != nil {
		// The transport may still be reading a streamed body for the first
		// attempt even after it returned; it cannot be sent again.
		return false
	}
	if !idempotent(out.Method) {
		return false
	}
	if res.resp == nil {
		return !errs.Is(res.err, errs.Invalid) // transport error or timeout, not an oversized body
	}
	return res.resp.StatusCode == http.StatusBadGateway || res.resp.StatusCode == http.StatusServiceUnavailable
}

// attempt sends out to one instance through the instance's breaker. The
// breaker counts transport failures and 5xx responses (see instanceFailed);
// anything below 500 is a success, however unhappy the response.
func (f *forwarder) attempt(out *http.Request, c *call, in consul.Instance, n int) attemptResult {
	c.info.instance = in.ID
	c.info.attempts = n
	ib := f.breakers.get(c.route.Service, in.ID)
	br := ib.exec

	// The attempt's deadline must cover reading the response body too, so
	// it is not the context the breaker hands to run (which ends when
	// Execute returns) but one that ends when the proxy closes the body.
	actx, cancelCtx := context.WithTimeout(out.Context(), time.Duration(f.timeout.Load()))
	a := &attemptRun{f: f, out: out, c: c, in: in, ib: ib, actx: actx, cancelCtx: cancelCtx}
	ib.inflight.Add(1)
	ib.track(a)
	var ended atomic.Bool
	cancel := func() { // also the end of the request for the in-flight count
		cancelCtx()
		if ended.CompareAndSwap(false, true) {
			ib.inflight.Add(-1)
			ib.untrack(a)
		}
	}
	a.body.cancel = cancel
	brErr := br.Execute(out.Context(), a.run)

	a.mu.Lock()
	defer a.mu.Unlock()
	a.abandoned = true
	if a.resp == nil {
		cancel() // also stops a run the breaker gave up on
	}
	switch {
	case a.resp != nil:
		// Whatever the breaker made of it, the instance answered: pass the
		// answer on (a 5xx was counted as a failure above).
		return attemptResult{resp: a.resp}
	case !a.called:
		// The breaker refused: open circuit or too many requests in flight.
		return attemptResult{err: unavailable(brErr, msgUnavailable, failedRetry), notSent: true}
	case a.rtErr == nil:
		// The breaker stopped waiting (its own timeout or the client left)
		// before the instance answered.
		return attemptResult{err: unavailable(brErr, msgTimeout, failedRetry)}
	case a.aborted.Load() && out.Context().Err() == nil:
		// The instance stopped answering while the request waited on it:
		// a 503 now rather than a 504 when the upstream timeout ends.
		// Whether the request reached it is unknown, so retryable's
		// rules apply as to any transport error.
		return attemptResult{err: unavailable(fmt.Errorf("instance unresponsive: %w", a.rtErr), msgUnavailable, failedRetry),
			notSent: isDial(a.rtErr)}
	}
	return f.classify(out.Context(), a.rtErr)
}

// attemptRun is the state one attempt shares with the run it hands the
// breaker, in one allocation rather than one per variable the run's closure
// would capture. A breaker may give up on a run and return while it goes on
// (kit/breaker's Hystrix does not, but the Breaker interface allows it), so
// the fields the two both touch are guarded by mu.
type attemptRun struct {
	f    *forwarder
	out  *http.Request
	c    *call
	in   consul.Instance
	ib   *instanceBreaker
	actx context.Context
	// cancelCtx ends actx; abort calls it when the instance turns
	// unresponsive, and sets aborted.
	cancelCtx context.CancelFunc
	aborted   atomic.Bool
	// prev and next link the attempts in flight to ib (ib.mu guards them).
	prev, next *attemptRun
	url        url.URL    // the outgoing request's, with the instance's address
	body       cancelBody // the response body handed on, ending actx when closed

	mu        sync.Mutex
	called    bool // the run started sending
	abandoned bool // attempt has returned; a late run must not send, or must clean up
	resp      *http.Response
	rtErr     error
}

func (a *attemptRun) run(context.Context) error {
	a.mu.Lock()
	if a.abandoned {
		// The breaker started the run after Execute had already given up;
		// the caller may be retrying elsewhere, so send nothing.
		a.mu.Unlock()
		return errUpstream
	}
	a.called = true
	a.mu.Unlock()

	req := a.out.WithContext(a.actx)
	a.url = *a.out.URL
	a.url.Host = a.in.HTTPAddr()
	req.URL = &a.url
	b := a.c.body
	req.Body, req.GetBody = b.open()
	if b.stream == nil {
		// Buffered (or empty): the length is known now, even if the client
		// sent the body chunked.
		req.ContentLength = int64(len(b.buf))
		req.TransferEncoding = nil
	}
	r, err := a.f.transport.RoundTrip(req)
	if err == nil {
		a.ib.answered.Add(1) // proof of life for the prober
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.abandoned {
		if r != nil {
			r.Body.Close()
		}
		return errUpstream
	}
	if err != nil {
		a.rtErr = fmt.Errorf("instance %s at %s: %w", a.in.ID, a.url.Host, err)
		// Wrapped so that the breaker counts a timeout as a failure rather
		// than as the caller's cancellation.
		return errs.Wrap(a.rtErr, errs.Unavailable, "upstream request failed")
	}
	a.body.ReadCloser = r.Body
	r.Body = &a.body
	a.resp = r
	if instanceFailed(r) {
		return errUpstream
	}
	return nil
}

// abort cancels the attempt because its instance stopped answering.
func (a *attemptRun) abort() {
	a.aborted.Store(true)
	a.cancelCtx()
}

// instanceFailed says whether a response counts against the instance's
// breaker: a 5xx, except a 503 with Retry-After. That is an instance that
// answered at once that a dependency of its own (its database) is out and
// when to try again; opening the breaker would only replace its answer with
// the gateway's and keep the route shut for the breaker's whole sleep window
// after the dependency is back.
func instanceFailed(r *http.Response) bool {
	if r.StatusCode == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "" {
		return false
	}
	return r.StatusCode >= http.StatusInternalServerError
}

// classify turns a transport error into a client-safe error and says whether
// the request provably never left.
func (f *forwarder) classify(clientCtx context.Context, err error) attemptResult {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return attemptResult{err: errs.Wrap(err, errs.Invalid, msgBodyTooBig)}
	case clientCtx.Err() != nil:
		return attemptResult{err: unavailable(err, "client closed request", 0)}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return attemptResult{err: unavailable(err, msgTimeout, failedRetry), notSent: isDial(err)}
	}
	return attemptResult{err: unavailable(err, msgUnavailable, failedRetry), notSent: isDial(err)}
}

// isDial reports whether err happened while connecting, before any byte of
// the request was written (connection refused, no route, dial timeout).
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// errUpstream marks a 5xx response as a failure for the breaker.
var errUpstream = errs.New(errs.Unavailable, "upstream failed")

// idempotent reports whether repeating a request with this method has the
// same effect as sending it once (RFC 9110, section 9.2.2), so a retry after
// a failure that may have reached the instance is safe.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// discard drains a little of a response we are about to replace, so its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// cancelBody ends an attempt's context once the proxy is done with the body.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
