package server

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults for the zero values of Config's limits on the HTTP port. They
// bound what one slow or greedy client can hold: a connection, a file
// descriptor and, while its request is read or its response written, a
// handler goroutine.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included, from
	// its first byte: API bodies are small JSON documents, so a client that
	// has not sent one in this time is trickling it, on purpose or not, and
	// its connection is cut.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds the time from the end of a request's
	// headers to the end of its response, handler included. A client that
	// does not read its response is cut after it.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds the wait for the next request on a
	// keep-alive connection.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxConnsPerClient bounds the connections one client address
	// (an IPv4 address or an IPv6 /64) may have open on the HTTP port. It is
	// high enough for the gateway's pool of connections to an instance
	// (its breakers allow 1024 requests in flight per instance), and low
	// enough that one client cannot take all of the process's descriptors.
	DefaultMaxConnsPerClient = 2048
)

// limitPerClient returns ln with at most max connections open per client
// address (see clientKey); connections beyond that are closed as soon as
// they are accepted, before a byte is read. It does not count connections
// an earlier wrapper refused.
func limitPerClient(ln net.Listener, max int) net.Listener {
	return &clientLimitListener{Listener: ln, max: max, open: make(map[string]int)}
}

type clientLimitListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int // client key -> connections open; no zero entries
}

// Accept returns the next connection whose client is under its limit.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &clientConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *clientLimitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] <= 1 {
		delete(l.open, key)
		return
	}
	l.open[key]--
}

// clientConn gives its client's slot back when closed, once however often
// net/http closes it.
type clientConn struct {
	net.Conn
	l    *clientLimitListener
	key  string
	once sync.Once
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// clientKey is what connections are counted by: the IPv4 address, or the
// /64 network of an IPv6 address, since one IPv6 subscriber usually gets a
// whole /64 and could otherwise open the limit's worth from each of its
// addresses. An address that is not IP (a Unix socket) counts as its string.
func clientKey(addr net.Addr) string {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		p, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ap = p
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return ip.String()
	}
	prefix, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return ip.String()
	}
	return prefix.String()
}
