package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// HTTPGet returns, for OpenLoop, calls that each GET rawURL (http only)
// over a keep-alive connection of their own, and check the response with
// check (nil: any status below 400 will do).
//
// The request is written from bytes prepared once, and the response is
// read by the standard library's parser (http.ReadResponse), but without
// http.Client: its Transport hands every request to two goroutines of the
// connection and looks connections up in a pool, which at thousands of
// requests a second costs the client about as much CPU as a small server
// spends answering. A load generator that shares the machine with what it
// measures must stay out of its way.
func HTTPGet(rawURL string, header http.Header, check func(*http.Response) error) (func() Call, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("bench: HTTPGet needs an http:// URL with a host, got %q", rawURL)
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("User-Agent", "kitbench")
	var raw writeBuffer
	if err := req.Write(&raw); err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	if check == nil {
		check = func(r *http.Response) error {
			if r.StatusCode >= 400 {
				return fmt.Errorf("status %d", r.StatusCode)
			}
			return nil
		}
	}
	return func() Call {
		c := &getConn{addr: host, req: raw, check: check}
		return c.call
	}, nil
}

type writeBuffer []byte

func (b *writeBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// getConn is one caller's connection, opened on its first call and again
// after a failure or a response that closes it.
type getConn struct {
	addr  string
	req   []byte
	check func(*http.Response) error
	conn  net.Conn
	br    *bufio.Reader
}

func (c *getConn) call(ctx context.Context) error {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.br.Reset(conn)
		}
	}
	dl, _ := ctx.Deadline() // the zero time, no deadline, without one
	c.conn.SetDeadline(dl)
	resp, err := c.roundTrip()
	if err != nil || resp.Close {
		c.conn.Close()
		c.conn = nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return err
	}
	return c.check(resp)
}

// roundTrip sends the request and reads the whole response; an error
// leaves the connection unusable.
func (c *getConn) roundTrip() (*http.Response, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}
