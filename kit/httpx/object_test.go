package httpx_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

func TestDecodeObject(t *testing.T) {
	type body struct {
		Name *string `json:"name"`
		Note *string `json:"note"`
	}
	tests := []struct {
		name, in   string
		wantFields []string // "" for none
	}{
		{"all there", `{"name":"a","note":"b"}`, nil},
		{"optional left out", `{"name":"a"}`, nil},
		{"required missing", `{"note":"b"}`, []string{"name: is required"}},
		{"null is not absent", `{"name":"a","note":null}`, []string{"note: must not be null"}},
		{"both at once", `{"note":null}`, []string{"note: must not be null", "name: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
			r.Header.Set("Content-Type", "application/json")
			var b body
			err := httpx.DecodeObject(r, &b, "name")
			var got []string
			for _, f := range errs.FieldsOf(err) {
				got = append(got, f.Field+": "+f.Message)
			}
			if strings.Join(got, ";") != strings.Join(tt.wantFields, ";") {
				t.Errorf("fields = %q, want %q (err %v)", got, tt.wantFields, err)
			}
			if tt.wantFields == nil && (err != nil || b.Name == nil || *b.Name != "a") {
				t.Errorf("err = %v, name = %v; want the body decoded", err, b.Name)
			}
		})
	}
}
