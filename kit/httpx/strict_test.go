package httpx_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// TestDecodeJSONStrict covers what encoding/json would accept silently:
// repeated keys (the last wins) and text that is not UTF-8 (replaced with
// U+FFFD). Each is a 400 naming the member by its JSON path.
func TestDecodeJSONStrict(t *testing.T) {
	type item struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	type order struct {
		Name  string `json:"name"`
		Dims  dims   `json:"dims"`
		Items []item `json:"items"`
	}
	tests := []struct {
		name       string
		body       string
		want       order
		wantMsg    string // substring of the client message; "" means success
		wantFields []errs.FieldError
	}{
		{name: "valid", body: `{"name":"café ☕ 😀 \ud83d\ude00 \\ud800 \ufffd","dims":{"w":1,"h":2},"items":[{"sku":"A","qty":1},{"sku":"B","qty":2}]}`,
			want: order{Name: "café ☕ 😀 😀 \\ud800 \ufffd", Dims: dims{W: 1, H: 2}, Items: []item{{"A", 1}, {"B", 2}}}},
		{name: "duplicate key top level", body: `{"name":"a","name":"b"}`,
			wantMsg: `duplicate key "name"`, wantFields: []errs.FieldError{{Field: "name", Message: "duplicate key"}}},
		{name: "duplicate key differing in case", body: `{"name":"a","NAME":"b"}`,
			wantMsg: `duplicate key "NAME"`, wantFields: []errs.FieldError{{Field: "NAME", Message: "duplicate key"}}},
		{name: "duplicate key nested object", body: `{"name":"a","dims":{"w":1,"h":2,"w":3}}`,
			wantMsg: `duplicate key "dims.w"`, wantFields: []errs.FieldError{{Field: "dims.w", Message: "duplicate key"}}},
		{name: "duplicate key in array element", body: `{"items":[{"sku":"A"},{"sku":"B","qty":1,"sku":"C"}]}`,
			wantMsg: `duplicate key "items[1].sku"`, wantFields: []errs.FieldError{{Field: "items[1].sku", Message: "duplicate key"}}},
		{name: "duplicate key with escapes", body: `{"name":"a","n\u0061me":"b"}`,
			wantMsg: `duplicate key "name"`, wantFields: []errs.FieldError{{Field: "name", Message: "duplicate key"}}},
		{name: "same key in sibling objects", body: `{"items":[{"sku":"A"},{"sku":"B"}]}`,
			want: order{Items: []item{{SKU: "A"}, {SKU: "B"}}}},
		{name: "invalid UTF-8 in a string value", body: "{\"name\":\"mu\xffg\"}",
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "invalid UTF-8 nested", body: "{\"name\":\"ok\",\"items\":[{\"sku\":\"A\"},{\"sku\":\"\xc3\"}]}",
			wantMsg: `field "items[1].sku" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "items[1].sku", Message: "must be valid UTF-8 text"}}},
		{name: "overlong encoding", body: "{\"name\":\"\xc0\xaf\"}", // '/' in two bytes
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "overlong three-byte NUL", body: "{\"name\":\"\xe0\x80\x80\"}",
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "encoded surrogate", body: "{\"name\":\"\xed\xa0\x80\"}",
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "escaped lone high surrogate", body: `{"name":"x\ud800y"}`,
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "escaped lone low surrogate", body: `{"dims":{"w":1},"name":"\udc00"}`,
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "escaped high surrogate at end of string", body: `{"name":"\ud83d"}`,
			wantMsg: `field "name" is not valid UTF-8`, wantFields: []errs.FieldError{{Field: "name", Message: "must be valid UTF-8 text"}}},
		{name: "invalid UTF-8 in a key", body: "{\"na\xffme\":\"x\"}",
			wantMsg: "is not valid UTF-8", wantFields: []errs.FieldError{{Field: "na\ufffdme", Message: "must be valid UTF-8 text"}}},
		{name: "invalid UTF-8 outside strings is a syntax error", body: "{\"name\":\"x\"\xff}",
			wantMsg: "not valid"},
		{name: "top-level string", body: "\"\xff\"", wantMsg: "request body is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got order
			err := httpx.DecodeJSON(jsonRequest(tt.body, "application/json"), &got)
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
				t.Fatalf("DecodeJSON succeeded (%+v), want error %q", got, tt.wantMsg)
			}
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Errorf("kind = %s, want invalid (err: %v)", got, err)
			}
			if got := errs.Message(err); !strings.Contains(got, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", got, tt.wantMsg)
			}
			if tt.wantFields != nil {
				if got := errs.FieldsOf(err); !reflect.DeepEqual(got, tt.wantFields) {
					t.Errorf("fields = %+v, want %+v", got, tt.wantFields)
				}
			}
		})
	}
}

// TestDecodeJSONDeepNestingIsInvalid checks that the strict walk leaves
// nesting deeper than encoding/json allows to encoding/json's own error.
func TestDecodeJSONDeepNestingIsInvalid(t *testing.T) {
	body := `{"items":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	var got map[string]any
	err := httpx.DecodeJSON(jsonRequest(body, "application/json"), &got)
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("DecodeJSON = %v, want an invalid error", err)
	}
}
