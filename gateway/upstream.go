package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Upstream is the gateway's transport to service instances: plain HTTP/1.1
// over pooled keep-alive connections, each request written and its response
// read on the caller's goroutine.
//
// http.Transport runs two goroutines per connection, one writing requests
// and one reading responses, and hands every request and every response
// between them and the caller over channels. For a proxy that spends its
// life forwarding small requests to a few hosts those handoffs are the
// largest cost of the upstream hop: measured on loopback with wrk, a bare
// httputil.ReverseProxy spent 56-60 us of CPU per request over
// http.Transport and 44-45 us over this synchronous design. The wire format is
// http.Transport's, since both write with http.Request.Write and read with
// http.ReadResponse.
//
// What it does not do itself it hands to an http.Transport (NewTransport):
// anything but http URLs and protocol upgrades (WebSocket). Other
// differences: a request body is sent without waiting for "100 Continue",
// and interim (1xx) responses are skipped rather than passed on.
//
// An idle connection the instance has closed is noticed without a reader
// goroutine: before reusing a connection, Upstream checks the socket
// without blocking, and a request that finds its
// reused connection closed before any byte of a response arrived is sent
// again on a fresh one when that is safe (no byte of it was written, or it
// is idempotent and its body can be replayed), as http.Transport does.
type Upstream struct {
	dialer         net.Dialer
	maxIdlePerHost int
	maxIdle        int
	idleTimeout    time.Duration
	maxHeaderBytes int64
	fallback       *http.Transport

	mu    sync.Mutex
	idle  map[string][]*upConn // by host:port; the most recently used last
	nIdle int
}

// Pool and protocol limits of NewUpstream, the same as NewTransport's.
const (
	upstreamMaxIdlePerHost = 256
	upstreamMaxIdle        = 1024
	upstreamIdleTimeout    = 90 * time.Second
	upstreamMaxHeaderBytes = 1 << 20
	upstreamDialTimeout    = 2 * time.Second
)

// NewUpstream returns the gateway's default upstream transport, pooled as
// generously as NewTransport (a gateway talks to few hosts at a high rate),
// with the same short dial timeout, no environment proxies and no transparent
// compression, so responses pass through byte for byte.
func NewUpstream() *Upstream {
	return &Upstream{
		dialer:         net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second},
		maxIdlePerHost: upstreamMaxIdlePerHost,
		maxIdle:        upstreamMaxIdle,
		idleTimeout:    upstreamIdleTimeout,
		maxHeaderBytes: upstreamMaxHeaderBytes,
		fallback:       NewTransport(),
		idle:           make(map[string][]*upConn),
	}
}

var _ http.RoundTripper = (*Upstream)(nil)

// upConn is one pooled connection.
type upConn struct {
	conn   net.Conn
	io     *connIO
	br     *bufio.Reader
	bw     *bufio.Writer
	host   string
	idleAt time.Time // when it was put back in the pool
}

// connIO sits between a connection and its buffers: it counts what a
// request exchange wrote and read, notes the first write error (so a
// failure to send can be told from a failure to read the request body), and
// bounds how much the response headers may take.
type connIO struct {
	conn     net.Conn
	budget   int64 // bytes the response may still take before its body starts
	written  int64 // bytes written since the request started
	received int64 // bytes read since the request started
	werr     error // first write error since the request started
}

var errHeadersTooLarge = errors.New("gateway: upstream response headers too large")

func (c *connIO) Read(p []byte) (int, error) {
	if c.budget <= 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > c.budget {
		p = p[:c.budget]
	}
	n, err := c.conn.Read(p)
	c.budget -= int64(n)
	c.received += int64(n)
	return n, err
}

func (c *connIO) Write(p []byte) (int, error) {
	n, err := c.conn.Write(p)
	c.written += int64(n)
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return n, err
}

// RoundTrip implements http.RoundTripper.
func (u *Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.Header.Get("Upgrade") != "" {
		return u.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	host := req.URL.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	for attempt := 0; ; attempt++ {
		pc, reused, err := u.get(ctx, host)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, again, err := u.send(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		if attempt > 0 || !reused || !again || ctx.Err() != nil {
			closeBody(req)
			return nil, err
		}
		// The instance closed the reused connection before answering
		// (idle timeout, restart): send it again on a fresh one.
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			r := *req
			r.Body = body
			req = &r
		}
	}
}

// retryable reports whether a request whose reused connection failed may be
// sent again, as http.Transport decides: nothing of a response arrived, the
// body can be sent again, and either nothing was written or the request is
// one that is safe to repeat (the instance may have acted on it).
func retryable(req *http.Request, c *connIO) bool {
	switch {
	case c.received > 0:
		return false
	case c.written > 0 && !replayable(req):
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// replayable is http.Request's notion of a request that is safe to repeat
// (RFC 9110 safe methods, or an explicit idempotency key).
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads
// and writes on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// send writes req on pc and reads the response head. On error pc is closed,
// and again says whether the connection failed in a way that allows sending
// req once more on another (see retryable).
func (u *Upstream) send(ctx context.Context, pc *upConn, req *http.Request) (resp *http.Response, again bool, err error) {
	// A cancelled or expired request must not stay blocked on the
	// connection: poison its deadline, which ends any read or write. The
	// connection is then closed instead of reused.
	stop := context.AfterFunc(ctx, func() { pc.conn.SetDeadline(aLongTimeAgo) })
	c := pc.io
	c.budget, c.written, c.received, c.werr = u.maxHeaderBytes, 0, 0, nil

	fail := func(err error, connFailed bool) (*http.Response, bool, error) {
		stop()
		pc.conn.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, false, cerr
		}
		return nil, connFailed && retryable(req, c), err
	}
	out := req
	var body *bodyReader
	if req.Body != nil && req.Body != http.NoBody {
		// Request.Write hides a failure to read the body behind an error
		// that does not unwrap; keep it, to return it as it is.
		body = &bodyReader{rc: req.Body}
		r := *req
		r.Body = body
		out = &r
	}
	if err := out.Write(pc.bw); err != nil {
		if body != nil && body.err != nil {
			// The request body failed (the client, or a size limit): the
			// caller must be able to tell.
			return fail(body.err, false)
		}
		return fail(fmt.Errorf("gateway: writing request to %s: %w", pc.host, err), true)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(fmt.Errorf("gateway: writing request to %s: %w", pc.host, err), true)
	}
	for {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			return fail(fmt.Errorf("gateway: reading response from %s: %w", pc.host, err), !errors.Is(err, errHeadersTooLarge))
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// An interim response (100 Continue, 103 Early Hints): the final one
		// follows on the same connection.
		c.budget = u.maxHeaderBytes
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Not asked for (upgrades go to the fallback); the connection now
		// speaks something else.
		resp.Body.Close()
		return fail(fmt.Errorf("gateway: unexpected protocol switch from %s", pc.host), false)
	}
	c.budget = math.MaxInt64
	reuse := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		u.release(pc, stop, reuse)
		return resp, false, nil
	}
	resp.Body = &upBody{rc: resp.Body, u: u, pc: pc, stop: stop, reuse: reuse, ctx: ctx}
	return resp, false, nil
}

// bodyReader keeps the first error reading a request body.
type bodyReader struct {
	rc  io.ReadCloser
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// release ends a request exchange on pc: back to the pool when it may be
// reused and its deadline was not poisoned, closed otherwise.
func (u *Upstream) release(pc *upConn, stop func() bool, reuse bool) {
	if !stop() || !reuse {
		// stop false: the context ended and its deadline trap has fired (or
		// is firing) on the connection.
		pc.conn.Close()
		return
	}
	u.put(pc)
}

// upBody is a response body read from a pooled connection. Reaching EOF
// hands the connection back to the pool; closing it earlier closes the
// connection, as the rest of the body would have to be read to reuse it.
type upBody struct {
	rc    io.ReadCloser
	u     *Upstream
	pc    *upConn
	stop  func() bool
	reuse bool
	ctx   context.Context

	mu   sync.Mutex
	done bool // the connection was released or closed
}

func (b *upBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.done = true
		b.u.release(b.pc, b.stop, b.reuse)
	case err != nil:
		b.done = true
		b.stop()
		b.pc.conn.Close()
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
	}
	return n, err
}

func (b *upBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		b.stop()
		b.pc.conn.Close()
	}
	return nil
}

// get returns an idle connection to host, or dials a new one.
func (u *Upstream) get(ctx context.Context, host string) (pc *upConn, reused bool, err error) {
	now := time.Now()
	for {
		u.mu.Lock()
		conns := u.idle[host]
		if len(conns) == 0 {
			u.mu.Unlock()
			break
		}
		pc = conns[len(conns)-1]
		conns[len(conns)-1] = nil
		u.idle[host] = conns[:len(conns)-1]
		u.nIdle--
		u.mu.Unlock()

		idle := now.Sub(pc.idleAt)
		switch {
		case idle > u.idleTimeout, pc.br.Buffered() > 0:
			// Too old, or the instance sent something unasked: not safe.
			pc.conn.Close()
		case !connAlive(pc.conn):
			// Checked before every reuse (one non-blocking system call), as
			// http.Transport's reader goroutine watches an idle connection:
			// a close by the instance is found before a request that could
			// not be sent twice is written, and bytes the instance sent
			// unasked are never read as the next request's response.
			pc.conn.Close()
		default:
			return pc, true, nil
		}
	}
	conn, err := u.dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	c := &connIO{conn: conn}
	return &upConn{conn: conn, io: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c), host: host}, false, nil
}

// put returns pc to the pool, or closes it when the pool is full or closed.
func (u *Upstream) put(pc *upConn) {
	pc.idleAt = time.Now()
	u.mu.Lock()
	conns := u.idle[pc.host]
	if len(conns) >= u.maxIdlePerHost || u.nIdle >= u.maxIdle {
		u.mu.Unlock()
		pc.conn.Close()
		return
	}
	// Connections are taken from the end, so the oldest sit at the front:
	// drop those idle for too long while here.
	var stale []*upConn
	for len(conns) > 0 && pc.idleAt.Sub(conns[0].idleAt) > u.idleTimeout {
		stale = append(stale, conns[0])
		conns[0] = nil
		conns = conns[1:]
		u.nIdle--
	}
	u.idle[pc.host] = append(conns, pc)
	u.nIdle++
	u.mu.Unlock()
	for _, s := range stale {
		s.conn.Close()
	}
}

// CloseIdleConnections closes the pooled connections (and the fallback's).
// Connections in use are closed when their requests end.
func (u *Upstream) CloseIdleConnections() {
	u.mu.Lock()
	idle := u.idle
	u.idle = make(map[string][]*upConn)
	u.nIdle = 0
	u.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			pc.conn.Close()
		}
	}
	u.fallback.CloseIdleConnections()
}
