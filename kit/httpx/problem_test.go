package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/requestid"
)

// newLogger returns a logger writing logfmt into a buffer that is safe to
// read once the requests under test have completed.
func newLogger(t *testing.T) (log.Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	return log.NewLogfmtLogger(log.NewSyncWriter(&buf)), &buf
}

func requestWithID(method, target, id string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	return r.WithContext(requestid.NewContext(r.Context(), id))
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) httpx.Problem {
	t.Helper()
	if got, want := rec.Header().Get("Content-Type"), httpx.ProblemContentType; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var p httpx.Problem
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decoding problem %q: %v", rec.Body.String(), err)
	}
	return p
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want httpx.Problem
	}{
		{
			name: "not found",
			err:  errs.New(errs.NotFound, "product not found"),
			want: httpx.Problem{Type: "urn:kitshop:problem:not_found", Title: "Not Found", Status: 404,
				Detail: "product not found", Kind: "not_found", RequestID: "req-1"},
		},
		{
			name: "invalid with fields",
			err:  errs.InvalidFields(errs.FieldError{Field: "name", Message: "must not be empty"}),
			want: httpx.Problem{Type: "urn:kitshop:problem:invalid", Title: "Bad Request", Status: 400,
				Detail: "invalid input", Kind: "invalid", RequestID: "req-1",
				Errors: []errs.FieldError{{Field: "name", Message: "must not be empty"}}},
		},
		{
			name: "body too large",
			err:  httpx.BodyTooLarge(1 << 20),
			want: httpx.Problem{Type: "urn:kitshop:problem:invalid", Title: "Request Entity Too Large", Status: 413,
				Detail: "request body too large (limit 1048576 bytes)", Kind: "invalid", RequestID: "req-1"},
		},
		{
			name: "conflict",
			err:  errs.New(errs.Conflict, "sku already exists"),
			want: httpx.Problem{Type: "urn:kitshop:problem:conflict", Title: "Conflict", Status: 409,
				Detail: "sku already exists", Kind: "conflict", RequestID: "req-1"},
		},
		{
			name: "unclassified error is internal",
			err:  errors.New("boom"),
			want: httpx.Problem{Type: "urn:kitshop:problem:internal", Title: "Internal Server Error", Status: 500,
				Detail: "internal error", Kind: "internal", RequestID: "req-1"},
		},
		{
			name: "deadline is unavailable",
			err:  context.DeadlineExceeded,
			want: httpx.Problem{Type: "urn:kitshop:problem:unavailable", Title: "Service Unavailable", Status: 503,
				Detail: "service unavailable, try again later", Kind: "unavailable", RequestID: "req-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := newLogger(t)
			rec := httptest.NewRecorder()
			httpx.WriteError(rec, requestWithID(http.MethodGet, "/x", "req-1"), logger, tt.err)
			if got, want := rec.Code, tt.want.Status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got := decodeProblem(t, rec); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problem = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWriteErrorInternalHidesCause(t *testing.T) {
	const cause = "dial tcp 10.1.2.3:5432: connection refused"
	logger, logs := newLogger(t)
	rec := httptest.NewRecorder()
	err := errs.Wrap(errors.New(cause), errs.Internal, "loading product 42 from shard 7")
	httpx.WriteError(rec, requestWithID(http.MethodGet, "/api/v1/products/42", "req-secret-test"), logger, err)

	body := rec.Body.String()
	for _, leak := range []string{cause, "10.1.2.3", "shard 7"} {
		if strings.Contains(body, leak) {
			t.Errorf("response body %q reveals %q", body, leak)
		}
	}
	if got, want := decodeProblem(t, rec).Detail, "internal error"; got != want {
		t.Errorf("detail = %q, want %q", got, want)
	}
	for _, want := range []string{"request_id=req-secret-test", "kind=internal", cause, "path=/api/v1/products/42", "level=error"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}

func TestWriteErrorBusinessErrorsAreNotLogged(t *testing.T) {
	logger, logs := newLogger(t)
	httpx.WriteError(httptest.NewRecorder(), requestWithID(http.MethodGet, "/x", "r"), logger, errs.New(errs.NotFound, "nope"))
	if logs.Len() != 0 {
		t.Errorf("business error logged: %q", logs.String())
	}
}

func TestWriteErrorRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string // "" means no header
	}{
		{"rate limited rounds up", &errs.Error{Kind: errs.RateLimited, RetryAfter: 1500 * time.Millisecond}, "2"},
		{"rate limited at least one second", &errs.Error{Kind: errs.RateLimited, RetryAfter: 10 * time.Millisecond}, "1"},
		{"unavailable whole seconds", &errs.Error{Kind: errs.Unavailable, RetryAfter: 3 * time.Second}, "3"},
		{"unavailable without hint", &errs.Error{Kind: errs.Unavailable}, ""},
		{"other kinds ignore the hint", &errs.Error{Kind: errs.NotFound, RetryAfter: time.Second}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := newLogger(t)
			rec := httptest.NewRecorder()
			httpx.WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), logger, tt.err)
			if got := rec.Header().Get("Retry-After"); got != tt.want {
				t.Errorf("Retry-After = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorRoundTrip sends every kind through WriteError and back through
// ErrorFromResponse, the way an error crosses the gateway.
func TestErrorRoundTrip(t *testing.T) {
	fields := []errs.FieldError{{Field: "name", Message: "must not be empty"}, {Field: "price", Message: "must be positive"}}
	kinds := []errs.Kind{errs.Internal, errs.Invalid, errs.NotFound, errs.Conflict, errs.Unauthenticated,
		errs.Forbidden, errs.RateLimited, errs.Unavailable}
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			sent := &errs.Error{Kind: kind, Message: "message for " + kind.String(), Fields: fields,
				RetryAfter: 2 * time.Second, Err: errors.New("secret cause")}
			logger, _ := newLogger(t)
			rec := httptest.NewRecorder()
			httpx.WriteError(rec, requestWithID(http.MethodGet, "/", "rt"), logger, sent)

			got := httpx.ErrorFromResponse(rec.Result())
			if got == nil {
				t.Fatal("ErrorFromResponse returned nil")
			}
			if g, w := errs.KindOf(got), kind; g != w {
				t.Errorf("kind = %s, want %s", g, w)
			}
			if g, w := errs.Message(got), errs.Message(sent); g != w {
				t.Errorf("message = %q, want %q", g, w)
			}
			wantFields := fields
			if kind == errs.Internal {
				wantFields = nil
			}
			if g := errs.FieldsOf(got); !reflect.DeepEqual(g, wantFields) {
				t.Errorf("fields = %+v, want %+v", g, wantFields)
			}
			var wantRetry time.Duration
			if kind == errs.RateLimited || kind == errs.Unavailable {
				wantRetry = 2 * time.Second
			}
			if g := errs.RetryAfterOf(got); g != wantRetry {
				t.Errorf("retry after = %v, want %v", g, wantRetry)
			}
			if strings.Contains(got.Error(), "secret cause") {
				t.Errorf("cause crossed the wire: %v", got)
			}
		})
	}
}

func TestErrorFromResponse(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		header      http.Header
		wantNil     bool
		wantKind    errs.Kind
		wantMsg     string
		wantRetry   time.Duration
	}{
		{name: "success", status: 200, wantNil: true},
		{name: "redirect", status: 302, wantNil: true},
		{name: "empty 404", status: 404, wantKind: errs.NotFound, wantMsg: "not found"},
		{name: "html 502", status: 502, contentType: "text/html", body: "<h1>Bad Gateway</h1>", wantKind: errs.Unavailable,
			wantMsg: "service unavailable, try again later"},
		{name: "kind wins over status", status: 400, contentType: httpx.ProblemContentType,
			body: `{"status":400,"kind":"conflict","detail":"duplicate"}`, wantKind: errs.Conflict, wantMsg: "duplicate"},
		{name: "unknown kind falls back to status", status: 403, contentType: httpx.ProblemContentType,
			body: `{"status":403,"kind":"wat","detail":"no"}`, wantKind: errs.Forbidden, wantMsg: "no"},
		{name: "plain json error", status: 409, contentType: "application/json", body: `{"detail":"taken"}`,
			wantKind: errs.Conflict, wantMsg: "taken"},
		{name: "garbage problem", status: 429, contentType: httpx.ProblemContentType, body: `{`,
			header: http.Header{"Retry-After": {"7"}}, wantKind: errs.RateLimited, wantMsg: "too many requests", wantRetry: 7 * time.Second},
		{name: "internal message is not relayed", status: 500, contentType: httpx.ProblemContentType,
			body: `{"status":500,"kind":"internal","detail":"stack trace here"}`, wantKind: errs.Internal, wantMsg: "internal error"},
		{name: "bad retry after", status: 503, header: http.Header{"Retry-After": {"soon"}}, wantKind: errs.Unavailable,
			wantMsg: "service unavailable, try again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			for k, v := range tt.header {
				resp.Header[k] = v
			}
			if tt.contentType != "" {
				resp.Header.Set("Content-Type", tt.contentType)
			}
			err := httpx.ErrorFromResponse(resp)
			if tt.wantNil {
				if err != nil {
					t.Fatalf("ErrorFromResponse = %v, want nil", err)
				}
				return
			}
			if got := errs.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s", got, tt.wantKind)
			}
			if got := errs.Message(err); got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			if got := errs.RetryAfterOf(err); got != tt.wantRetry {
				t.Errorf("retry after = %v, want %v", got, tt.wantRetry)
			}
		})
	}
}

func TestErrorFromResponseRetryAfterDate(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {when}}, Body: http.NoBody}
	got := errs.RetryAfterOf(httpx.ErrorFromResponse(resp))
	if got < 80*time.Second || got > 90*time.Second {
		t.Errorf("retry after = %v, want about 90s", got)
	}
}

// TestServerOptions checks the options on a real go-kit server: decode and
// endpoint errors become problems carrying the request id.
func TestServerOptions(t *testing.T) {
	logger, logs := newLogger(t)
	ep := func(_ context.Context, req any) (any, error) {
		switch req.(*createProduct).Name {
		case "missing":
			return nil, errs.New(errs.NotFound, "product not found")
		case "crash":
			return nil, errs.Wrap(errors.New("pool exhausted"), errs.Internal, "")
		}
		return created{ID: "p1"}, nil
	}
	dec := func(_ context.Context, r *http.Request) (any, error) {
		var req createProduct
		return &req, httpx.DecodeJSON(r, &req)
	}
	srv := requestid.HTTPMiddleware(httptransport.NewServer(endpoint.Endpoint(ep), dec, httpx.EncodeJSON, httpx.ServerOptions(logger)...))

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantKind   string
	}{
		{"ok", `{"name":"mug"}`, http.StatusCreated, ""},
		{"decode error", `{"nam":"mug"}`, http.StatusBadRequest, "invalid"},
		{"endpoint error", `{"name":"missing"}`, http.StatusNotFound, "not_found"},
		{"internal error", `{"name":"crash"}`, http.StatusInternalServerError, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := jsonRequest(tt.body, "application/json")
			req.Header.Set(requestid.Header, "rid-"+strings.ReplaceAll(tt.name, " ", "-"))
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantKind == "" {
				return
			}
			p := decodeProblem(t, rec)
			if p.Kind != tt.wantKind {
				t.Errorf("kind = %q, want %q", p.Kind, tt.wantKind)
			}
			if got, want := p.RequestID, req.Header.Get(requestid.Header); got != want {
				t.Errorf("request_id = %q, want %q", got, want)
			}
		})
	}
	for _, want := range []string{"request_id=rid-internal-error", "method=POST", "path=/api/v1/products", "pool exhausted"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}

func TestWriteErrorWWWAuthenticate(t *testing.T) {
	const (
		challenge        = `Bearer realm="kitshop"`
		invalidChallenge = `Bearer realm="kitshop", error="invalid_token"`
	)
	unauthenticated := errs.New(errs.Unauthenticated, "invalid or expired token")
	tests := []struct {
		name          string
		authorization string
		err           error
		want          string // "" means no header
	}{
		{"no credentials", "", errs.New(errs.Unauthenticated, "authentication required"), challenge},
		{"bearer token", "Bearer abc.def.ghi", unauthenticated, invalidChallenge},
		{"scheme is case-insensitive", "bearer abc.def.ghi", unauthenticated, invalidChallenge},
		{"other scheme is not a bearer token", "Basic dXNlcjpwYXNz", unauthenticated, challenge},
		{"forbidden has no challenge", "Bearer abc.def.ghi", errs.New(errs.Forbidden, "permission denied"), ""},
		{"not found has no challenge", "", errs.New(errs.NotFound, "nope"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := newLogger(t)
			r := httptest.NewRequest(http.MethodGet, "/api/v1/users/me", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}

			rec := httptest.NewRecorder()
			httpx.WriteError(rec, r, logger, tt.err)
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.want {
				t.Errorf("WriteError: WWW-Authenticate = %q, want %q", got, tt.want)
			}

			// The go-kit path learns the header from the context.
			ep := func(context.Context, any) (any, error) { return nil, tt.err }
			dec := func(context.Context, *http.Request) (any, error) { return nil, nil }
			srv := httptransport.NewServer(endpoint.Endpoint(ep), dec, httpx.EncodeJSON, httpx.ServerOptions(logger)...)
			rec = httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.want {
				t.Errorf("ErrorEncoder: WWW-Authenticate = %q, want %q", got, tt.want)
			}
			if got, want := rec.Code, errs.HTTPStatus(errs.KindOf(tt.err)); got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
		})
	}
}

// TestErrorEncoderWithPopulateRequestContext checks the encoder on a server
// configured by hand with go-kit's PopulateRequestContext instead of
// ServerOptions: it still logs method and path and challenges a bearer
// token.
func TestErrorEncoderWithPopulateRequestContext(t *testing.T) {
	logger, logs := newLogger(t)
	ep := func(context.Context, any) (any, error) {
		return nil, errs.Wrap(errors.New("pool exhausted"), errs.Unavailable, "database unavailable")
	}
	dec := func(context.Context, *http.Request) (any, error) { return nil, nil }
	srv := httptransport.NewServer(endpoint.Endpoint(ep), dec, httpx.EncodeJSON,
		httptransport.ServerBefore(httptransport.PopulateRequestContext),
		httptransport.ServerErrorEncoder(httpx.ErrorEncoder(logger)))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodDelete, "/api/v1/products/42", nil)
	req.Header.Set("Authorization", "Bearer abc.def.ghi")
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
	for _, want := range []string{"method=DELETE", "path=/api/v1/products/42", "pool exhausted"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}
