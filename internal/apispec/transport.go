package apispec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that checks every exchange through it
// with a Validator and reports each mismatch. The response is handed on
// unchanged, its body read in full first and then served from memory.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Validator checks the exchanges.
	Validator *Validator
	// Report receives every mismatch; a test passes t.Errorf's
	// equivalent, so that a mismatch fails the test without breaking the
	// exchange the test goes on to judge. It may be called from several
	// goroutines at once.
	Report func(error)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("apispec: reading the request body: %w", err)
		}
		reqBody = b
		// RoundTrip must not change req; a copy carries the body on.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		// A broken answer is the test's to see, not a mismatch.
		return resp, nil
	}
	if verr := t.Validator.Check(req, reqBody, resp, respBody); verr != nil {
		t.Report(fmt.Errorf("apispec: the gateway and gateway/openapi.yaml disagree: %w", verr))
	}
	return resp, nil
}

// decodeJSON decodes one JSON document into v.
func decodeJSON(data []byte, v any) error { return json.Unmarshal(data, v) }
