package apispec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/kitshop/kitshop/gateway"
)

// Load parses the gateway's OpenAPI document and validates it against the
// OpenAPI specification.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(gateway.OpenAPIYAML())
	if err != nil {
		return nil, fmt.Errorf("apispec: loading gateway/openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("apispec: gateway/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// Validator checks HTTP exchanges against the document.
type Validator struct {
	doc     *openapi3.T
	router  routers.Router
	problem *openapi3.Schema
}

// New returns a Validator for the gateway's document.
func New() (*Validator, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("apispec: routing the document: %w", err)
	}
	ref := doc.Components.Schemas["Problem"]
	if ref == nil || ref.Value == nil {
		return nil, errors.New("apispec: the document has no Problem schema")
	}
	return &Validator{doc: doc, router: router, problem: ref.Value}, nil
}

// Doc returns the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Check checks one exchange: req, whose body (nil for none) was reqBody,
// answered with resp, whose body was respBody. It returns nil when the
// exchange agrees with the document, and an error naming every
// disagreement otherwise. req and resp are not read.
func (v *Validator) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	ctx := context.Background()
	// The router matches the server URL "/" against any host; only the
	// path and method count.
	route, pathParams, err := v.router.FindRoute(cloneWithBody(req, reqBody))
	if err != nil {
		// The document describes the API; the gateway gives every other
		// path to the storefront (gateway.SitePrefix), which answers in
		// HTML. Only a server error is wrong there.
		if !isAPIPath(req.URL.Path) {
			if resp.StatusCode >= 500 {
				return fmt.Errorf("%s %s (the storefront's) was answered with %d", req.Method, req.URL.Path, resp.StatusCode)
			}
			return nil
		}
		// Undocumented: it must be refused, as a problem.
		if perr := v.checkRefusal(resp, respBody); perr != nil {
			return fmt.Errorf("%s %s is not in the document (%v), yet %w", req.Method, req.URL.Path, err, perr)
		}
		return nil
	}
	opts := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		AuthenticationFunc:    authenticate,
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    cloneWithBody(req, reqBody),
		PathParams: pathParams,
		Route:      route,
		Options:    opts,
	}
	var problems []error
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil {
		if perr := v.checkRefusal(resp, respBody); perr != nil {
			problems = append(problems, fmt.Errorf("the request breaks the document (%v), yet %w", reqErr, perr))
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		problems = append(problems, fmt.Errorf("response %d does not match operation %s: %v", resp.StatusCode, route.Operation.OperationID, err))
	}
	if err := errors.Join(problems...); err != nil {
		return fmt.Errorf("%s %s: %w; response body: %s", req.Method, req.URL.RequestURI(), err, truncate(respBody))
	}
	return nil
}

// checkRefusal returns nil if resp refuses the request as the document says
// every refusal looks: a 4xx application/problem+json Problem.
func (v *Validator) checkRefusal(resp *http.Response, body []byte) error {
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		return fmt.Errorf("it was answered with %d, want a 4xx problem", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("it was answered with Content-Type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
	var value any
	if err := decodeJSON(body, &value); err != nil {
		return fmt.Errorf("its problem is not JSON: %v", err)
	}
	if err := v.problem.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("its problem does not match the Problem schema: %v", err)
	}
	return nil
}

// authenticate stands in for the gateway's token check: the document is
// kept if the request carries the kind of credentials the operation asks
// for; whether they are good is the gateway's business, and a bad token
// must be refused with a 401 problem like any other malformed request.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme := strings.ToLower(in.SecurityScheme.Scheme)
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	kind, _, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(kind, scheme) {
		return fmt.Errorf("no %s credentials in Authorization", scheme)
	}
	return nil
}

// cloneWithBody returns a shallow copy of req that reads body.
func cloneWithBody(req *http.Request, body []byte) *http.Request {
	c := req.Clone(req.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	return c
}

// truncate keeps messages readable when a body is large.
func truncate(b []byte) string {
	const n = 300
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// isAPIPath reports whether path is under /api, in any letter case, as the
// gateway decides it (never the storefront's).
func isAPIPath(path string) bool {
	return len(path) >= 4 && strings.EqualFold(path[:4], "/api") && (len(path) == 4 || path[4] == '/')
}
