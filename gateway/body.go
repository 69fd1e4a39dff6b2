package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/kitshop/kitshop/kit/errs"
)

// body is a request body prepared for forwarding: either fully buffered
// (small bodies, which any attempt can resend) or streamed once from the
// client (large ones, resendable only if the first attempt never read them).
type body struct {
	buf    []byte   // the whole body when buffered
	stream *tracked // the rest of the body when streamed; nil when buffered or empty
}

// prepareBody limits the body of r to maxBytes and buffers it when it fits in
// bufBytes. It returns errBodyTooBig when the declared or actual size is over
// the limit, and an Invalid error when the body cannot be read.
func prepareBody(w http.ResponseWriter, r *http.Request, maxBytes, bufBytes int64) (*body, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return &body{}, nil
	}
	if r.ContentLength > maxBytes {
		return nil, errBodyTooBig
	}
	limited := http.MaxBytesReader(w, r.Body, maxBytes)
	head := make([]byte, 0, min(bufBytes+1, max(r.ContentLength+1, 512)))
	head, err := readUpTo(limited, head, bufBytes+1)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errBodyTooBig
	case err != nil:
		return nil, errs.Wrap(err, errs.Invalid, "could not read the request body")
	case int64(len(head)) <= bufBytes:
		return &body{buf: head}, nil
	}
	return &body{stream: &tracked{r: io.MultiReader(bytes.NewReader(head), limited)}}, nil
}

// readUpTo appends from r to buf until EOF or until buf holds n bytes.
func readUpTo(r io.Reader, buf []byte, n int64) ([]byte, error) {
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):min(int64(cap(buf)), n)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// open returns a fresh reader over the body for one attempt, with GetBody set
// for buffered bodies so the transport itself may also resend them.
func (b *body) open() (io.ReadCloser, func() (io.ReadCloser, error)) {
	switch {
	case b.stream != nil:
		return b.stream, nil
	case len(b.buf) == 0:
		// NoBody rather than an empty reader: with a non-nil body and a
		// zero length the transport would send an empty chunked body.
		return http.NoBody, nil
	}
	get := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.buf)), nil }
	rc, _ := get()
	return rc, get
}

// replayable reports whether another attempt can send the whole body again:
// it is buffered, or no byte of the stream has been read yet.
func (b *body) replayable() bool {
	return b.stream == nil || b.stream.n.Load() == 0
}

// tracked counts the bytes read from a streamed body. The transport reads it
// from its own goroutine, hence the atomic. Close is a no-op: the server
// closes the client's body, and an attempt that failed before reading must
// leave it intact for the next one.
type tracked struct {
	r io.Reader
	n atomic.Int64
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n.Add(int64(n))
	return n, err
}

func (t *tracked) Close() error { return nil }
