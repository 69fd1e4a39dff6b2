package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/apispec"
	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/requestid"
)

// maxResponseBytes bounds what the test reads of any answer; the largest it
// expects is a page of products.
const maxResponseBytes = 4 << 20

// requestTimeout bounds one request through the gateway, so a hung stack
// fails the test instead of eating its whole timeout.
const requestTimeout = 10 * time.Second

// client talks to the stack through the gateway, the way an outside client
// does, and flags every 5xx answer: none may happen outside the failover
// window, whatever the input.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Timeout: requestTimeout}}
}

// newGatewayClient is newClient for the gateway, whose every exchange is
// also checked against the gateway's OpenAPI document (internal/apispec): a
// response the document does not allow, or a malformed request the gateway
// did not refuse, fails t, so the document cannot drift from the code.
func newGatewayClient(t *testing.T, base string) *client {
	t.Helper()
	v, err := apispec.New()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(base)
	c.http.Transport = &apispec.Transport{Validator: v, Report: func(err error) { t.Error(err) }}
	return c
}

// response is an answer read in full.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// mediaType returns the Content-Type without parameters ("" when absent or
// malformed).
func (r response) mediaType() string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// do sends one request to the gateway. A transport error is fatal (the stack
// is expected up), a 5xx is reported as an error, anything else is returned
// for the caller to judge. hdr may be nil; a body without a Content-Type in
// hdr is sent as application/json.
func (c *client) do(t *testing.T, method, path string, hdr http.Header, body []byte) response {
	t.Helper()
	got, err := c.send(method, path, hdr, body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status >= 500 {
		t.Errorf("%s %s: status %d, want no 5xx; body: %s", method, path, got.Status, truncate(got.Body))
	}
	return got
}

// send is do for goroutines and for requests that may fail on purpose: it
// returns transport errors and leaves every status to the caller.
func (c *client) send(method, path string, hdr http.Header, body []byte) (response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// decodeJSON checks that r is a JSON document with status want and a
// request id, and decodes it into dst.
func decodeJSON(t *testing.T, what string, r response, want int, dst any) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, r.Status, want, truncate(r.Body))
	}
	if got := r.mediaType(); got != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, r.Header.Get("Content-Type"))
	}
	checkRequestID(t, what, r)
	if err := json.Unmarshal(r.Body, dst); err != nil {
		t.Fatalf("%s: body is not the expected JSON: %v; body: %s", what, err, truncate(r.Body))
	}
}

// checkRequestID checks that the gateway gave the answer a valid
// X-Request-ID.
func checkRequestID(t *testing.T, what string, r response) {
	t.Helper()
	if id := r.Header.Get(requestid.Header); !requestid.Valid(id) {
		t.Errorf("%s: %s = %q, want a valid request id", what, requestid.Header, id)
	}
}

// checkProblem checks that r is an RFC 9457 problem document with the given
// status and kind, carrying the response's request id and, when wantField is
// set, an error for that field. It returns the problem for further checks.
func checkProblem(t *testing.T, what string, r response, wantStatus int, wantKind, wantField string) httpx.Problem {
	t.Helper()
	if r.Status != wantStatus {
		t.Errorf("%s: status %d, want %d; body: %s", what, r.Status, wantStatus, truncate(r.Body))
	}
	if got := r.mediaType(); got != httpx.ProblemContentType {
		t.Errorf("%s: Content-Type %q, want %s", what, r.Header.Get("Content-Type"), httpx.ProblemContentType)
	}
	checkRequestID(t, what, r)
	var p httpx.Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Errorf("%s: body is not a problem document: %v; body: %s", what, err, truncate(r.Body))
		return p
	}
	if p.Kind != wantKind {
		t.Errorf("%s: kind %q, want %q", what, p.Kind, wantKind)
	}
	if p.Status != r.Status {
		t.Errorf("%s: problem status %d, response status %d", what, p.Status, r.Status)
	}
	if p.Title == "" {
		t.Errorf("%s: problem has no title: %s", what, truncate(r.Body))
	}
	if want := r.Header.Get(requestid.Header); p.RequestID != want {
		t.Errorf("%s: problem request_id %q, response header %q", what, p.RequestID, want)
	}
	if wantField != "" && !slices.ContainsFunc(p.Errors, func(f errs.FieldError) bool { return f.Field == wantField }) {
		t.Errorf("%s: errors %+v, want one for field %q", what, p.Errors, wantField)
	}
	return p
}

// truncate keeps failure messages readable when a body is large.
func truncate(b []byte) string {
	const n = 300
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// gone reports whether neither the process nor anything left in its process
// group still exists. devenv starts every child as the leader of its own
// group, so the group id is the pid.
func gone(p *devenv.Process) bool {
	select {
	case <-p.Done():
	default:
		return false
	}
	return syscall.Kill(p.Pid(), 0) == syscall.ESRCH && syscall.Kill(-p.Pid(), 0) == syscall.ESRCH
}
