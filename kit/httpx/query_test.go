package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

func TestQuery(t *testing.T) {
	tests := []struct {
		name       string
		rawQuery   string
		want       url.Values
		wantFields []errs.FieldError // nil means success
	}{
		{name: "empty", rawQuery: "", want: url.Values{}},
		{name: "valid", rawQuery: "q=caf%C3%A9+mug&limit=5&q=x", want: url.Values{"q": {"café mug", "x"}, "limit": {"5"}}},
		{name: "empty pairs are skipped", rawQuery: "&&limit=5&", want: url.Values{"limit": {"5"}}},
		{name: "malformed escape", rawQuery: "q=%zz",
			wantFields: []errs.FieldError{{Field: "q", Message: "is not a valid URL escape"}}},
		{name: "truncated escape", rawQuery: "limit=5&page_token=ab%2",
			wantFields: []errs.FieldError{{Field: "page_token", Message: "is not a valid URL escape"}}},
		{name: "every bad parameter is named", rawQuery: "q=%zz&limit=5&page_token=%",
			wantFields: []errs.FieldError{{Field: "q", Message: "is not a valid URL escape"}, {Field: "page_token", Message: "is not a valid URL escape"}}},
		{name: "malformed name", rawQuery: "%zz=1",
			wantFields: []errs.FieldError{{Field: "query", Message: "has a malformed parameter name"}}},
		{name: "semicolon", rawQuery: "q=a;limit=5",
			wantFields: []errs.FieldError{{Field: "q", Message: "must not contain ';' (separate parameters with '&')"}}},
		{name: "value not UTF-8", rawQuery: "limit=5&q=%FF",
			wantFields: []errs.FieldError{{Field: "q", Message: "must be valid UTF-8 text"}}},
		{name: "overlong encoding", rawQuery: "q=%C0%AF",
			wantFields: []errs.FieldError{{Field: "q", Message: "must be valid UTF-8 text"}}},
		{name: "name not UTF-8", rawQuery: "%FF=1",
			wantFields: []errs.FieldError{{Field: "query", Message: "has a parameter name that is not valid UTF-8"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/products", nil)
			r.URL.RawQuery = tt.rawQuery
			got, err := httpx.Query(r)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Query = %v, want %v", got, tt.want)
				}
				return
			}
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("Query = %v, %v; want an invalid error", got, err)
			}
			if got := errs.FieldsOf(err); !reflect.DeepEqual(got, tt.wantFields) {
				t.Errorf("fields = %+v, want %+v", got, tt.wantFields)
			}
		})
	}
}
