package httpx_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

type dims struct {
	W int `json:"w"`
	H int `json:"h"`
}

type createProduct struct {
	Name  string   `json:"name"`
	Price int64    `json:"price"`
	Tags  []string `json:"tags"`
	Dims  dims     `json:"dims"`
}

func jsonRequest(body, contentType string) *http.Request {
	return newJSONRequest(body, contentType, false)
}

// newJSONRequest builds a request whose length is declared, or unknown as
// with chunked transfer encoding.
func newJSONRequest(body, contentType string, chunked bool) *http.Request {
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // hides the length from NewRequest
	}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/products", rd)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	const ct = "application/json"
	huge := `{"name":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`
	tests := []struct {
		name        string
		body        string
		contentType string
		chunked     bool
		want        createProduct
		wantKind    errs.Kind // checked only when wantMsg is set
		wantMsg     string    // substring of the client message; "" means success
		wantFields  []errs.FieldError
	}{
		{name: "valid", body: `{"name":"mug","price":1200,"tags":["kitchen"],"dims":{"w":8,"h":10}}`, contentType: ct,
			want: createProduct{Name: "mug", Price: 1200, Tags: []string{"kitchen"}, Dims: dims{W: 8, H: 10}}},
		{name: "valid with charset and trailing whitespace", body: "{\"name\":\"mug\"}\n\t ", contentType: "application/json; charset=UTF-8",
			want: createProduct{Name: "mug"}},
		{name: "empty body", body: "", contentType: ct, wantKind: errs.Invalid, wantMsg: "request body is empty"},
		{name: "whitespace body", body: " \n ", contentType: ct, wantKind: errs.Invalid, wantMsg: "request body is empty"},
		{name: "empty body without content type", body: "", wantKind: errs.Invalid, wantMsg: "request body is empty"},
		{name: "missing content type", body: `{"name":"mug"}`, wantKind: errs.Invalid, wantMsg: "Content-Type must be application/json"},
		{name: "wrong content type", body: `{"name":"mug"}`, contentType: "text/plain", wantKind: errs.Invalid, wantMsg: "Content-Type must be application/json"},
		{name: "form content type", body: `name=mug`, contentType: "application/x-www-form-urlencoded", wantKind: errs.Invalid, wantMsg: "Content-Type must be application/json"},
		{name: "malformed content type", body: `{}`, contentType: "application/json; =", wantKind: errs.Invalid, wantMsg: "Content-Type must be application/json"},
		{name: "wrong charset", body: `{}`, contentType: "application/json; charset=latin1", wantKind: errs.Invalid, wantMsg: "charset must be utf-8"},
		{name: "not JSON", body: `hello`, contentType: ct, wantKind: errs.Invalid, wantMsg: "not valid JSON (syntax error at offset 1)"},
		{name: "truncated", body: `{"name":`, contentType: ct, wantKind: errs.Invalid, wantMsg: "not valid JSON (unexpected end of input)"},
		{name: "unknown field", body: `{"name":"mug","colour":"red"}`, contentType: ct, wantKind: errs.Invalid,
			wantMsg: `unknown field "colour"`, wantFields: []errs.FieldError{{Field: "colour", Message: "unknown field"}}},
		{name: "wrong type", body: `{"price":"12"}`, contentType: ct, wantKind: errs.Invalid,
			wantMsg: `field "price" must be an integer`, wantFields: []errs.FieldError{{Field: "price", Message: "must be an integer"}}},
		{name: "wrong type nested", body: `{"dims":{"w":true}}`, contentType: ct, wantKind: errs.Invalid,
			wantMsg: `field "dims.w" must be an integer`, wantFields: []errs.FieldError{{Field: "dims.w", Message: "must be an integer"}}},
		{name: "wrong element type", body: `{"tags":[1]}`, contentType: ct, wantKind: errs.Invalid,
			wantMsg: `field "tags" must be a string`, wantFields: []errs.FieldError{{Field: "tags", Message: "must be a string"}}},
		{name: "fraction for integer", body: `{"price":1.5}`, contentType: ct, wantKind: errs.Invalid,
			wantMsg: `field "price" must be an integer`, wantFields: []errs.FieldError{{Field: "price", Message: "must be an integer"}}},
		{name: "array instead of object", body: `[1,2]`, contentType: ct, wantKind: errs.Invalid, wantMsg: "request body must be an object"},
		{name: "trailing garbage", body: `{"name":"mug"} x`, contentType: ct, wantKind: errs.Invalid, wantMsg: "must contain a single JSON value"},
		{name: "two objects", body: `{"name":"mug"}{}`, contentType: ct, wantKind: errs.Invalid, wantMsg: "must contain a single JSON value"},
		{name: "too large", body: huge, contentType: ct, wantKind: errs.Invalid, wantMsg: "request body too large (limit 1048576 bytes)"},
		{name: "too large chunked", body: huge, contentType: ct, chunked: true, wantKind: errs.Invalid, wantMsg: "request body too large (limit 1048576 bytes)"},
		{name: "valid chunked", body: `{"name":"mug"}`, contentType: ct, chunked: true, want: createProduct{Name: "mug"}},
		{name: "empty chunked", body: "", contentType: ct, chunked: true, wantKind: errs.Invalid, wantMsg: "request body is empty"},
		{name: "wrong content type chunked", body: `{}`, contentType: "text/plain", chunked: true, wantKind: errs.Invalid, wantMsg: "Content-Type must be application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got createProduct
			req := newJSONRequest(tt.body, tt.contentType, tt.chunked)
			if tt.chunked && req.ContentLength != -1 {
				t.Fatalf("ContentLength = %d, want -1", req.ContentLength)
			}
			err := httpx.DecodeJSON(req, &got)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("decoded %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeJSON succeeded, want %s error %q", tt.wantKind, tt.wantMsg)
			}
			if got := errs.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s (err: %v)", got, tt.wantKind, err)
			}
			if got := errs.Message(err); !strings.Contains(got, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", got, tt.wantMsg)
			}
			if got := errs.FieldsOf(err); !reflect.DeepEqual(got, tt.wantFields) {
				t.Errorf("fields = %+v, want %+v", got, tt.wantFields)
			}
		})
	}
}

func TestDecodeJSONLimitIsInclusive(t *testing.T) {
	// A body of exactly MaxBodyBytes is allowed.
	body := `{"name":"` + strings.Repeat("x", httpx.MaxBodyBytes-len(`{"name":""}`)) + `"}`
	if len(body) != httpx.MaxBodyBytes {
		t.Fatalf("test body is %d bytes, want %d", len(body), httpx.MaxBodyBytes)
	}
	var got createProduct
	if err := httpx.DecodeJSON(jsonRequest(body, "application/json"), &got); err != nil {
		t.Fatalf("DecodeJSON: %v", err)
	}
}

func TestDecodeJSONBadDestinationIsInternal(t *testing.T) {
	var notAPointer createProduct
	err := httpx.DecodeJSON(jsonRequest(`{}`, "application/json"), notAPointer)
	if got, want := errs.KindOf(err), errs.Internal; got != want {
		t.Errorf("kind = %s, want %s (err: %v)", got, want, err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"name":"a","price":1}`, `{"dims":{"w":"x"}}`, `[`, `{"a":1}{}`, "\x00\xff", `{"tags":[null,1e999]}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got createProduct
		err := httpx.DecodeJSON(jsonRequest(body, "application/json"), &got)
		if err != nil && errs.KindOf(err) != errs.Invalid {
			t.Errorf("DecodeJSON(%q) kind = %s, want invalid (err: %v)", body, errs.KindOf(err), err)
		}
	})
}

type created struct {
	ID string `json:"id"`
}

func (created) StatusCode() int { return http.StatusCreated }
func (c created) Headers() http.Header {
	return http.Header{"Location": {"/api/v1/products/" + c.ID}}
}

type noContent struct{}

func (noContent) StatusCode() int { return http.StatusNoContent }

func TestEncodeJSON(t *testing.T) {
	var nilPtr *created
	tests := []struct {
		name       string
		resp       any
		wantStatus int
		wantBody   string
		wantHeader http.Header
	}{
		{name: "plain", resp: map[string]int{"n": 1}, wantStatus: http.StatusOK, wantBody: "{\"n\":1}\n",
			wantHeader: http.Header{"Content-Type": {"application/json; charset=utf-8"}}},
		{name: "status and headers", resp: created{ID: "p1"}, wantStatus: http.StatusCreated, wantBody: "{\"id\":\"p1\"}\n",
			wantHeader: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Location": {"/api/v1/products/p1"}}},
		{name: "nil", resp: nil, wantStatus: http.StatusNoContent, wantHeader: http.Header{}},
		{name: "nil pointer", resp: nilPtr, wantStatus: http.StatusNoContent, wantHeader: http.Header{}},
		{name: "204", resp: noContent{}, wantStatus: http.StatusNoContent, wantHeader: http.Header{}},
		{name: "empty slice", resp: []string{}, wantStatus: http.StatusOK, wantBody: "[]\n",
			wantHeader: http.Header{"Content-Type": {"application/json; charset=utf-8"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := httpx.EncodeJSON(context.Background(), rec, tt.resp); err != nil {
				t.Fatalf("EncodeJSON: %v", err)
			}
			if got := rec.Code; got != tt.wantStatus {
				t.Errorf("status = %d, want %d", got, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if got := rec.Header(); !reflect.DeepEqual(got, tt.wantHeader) {
				t.Errorf("header = %v, want %v", got, tt.wantHeader)
			}
		})
	}
}

func TestEncodeJSONMarshalErrorWritesNothing(t *testing.T) {
	rec := httptest.NewRecorder()
	err := httpx.EncodeJSON(context.Background(), rec, map[string]any{"c": make(chan int)})
	if got, want := errs.KindOf(err), errs.Internal; err == nil || got != want {
		t.Fatalf("EncodeJSON error = %v (kind %s), want kind %s", err, got, want)
	}
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("EncodeJSON wrote %q with headers %v; want nothing, so the error encoder can still answer", rec.Body.String(), rec.Header())
	}
}
