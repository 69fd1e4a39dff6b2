package httpx_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

func TestParams(t *testing.T) {
	tests := []struct {
		query      string
		wantLimit  int
		wantAll    bool
		wantFields string
	}{
		{"", 0, false, ""},
		{"limit=5&all=true&page_token=abc", 5, true, ""},
		{"limit=0", 0, false, "limit"},
		{"limit=x", 0, false, "limit"},
		{"limit=1&limit=2", 1, false, "limit"},
		{"all=maybe", 0, false, "all"},
		{"page_token=a&page_token=b", 0, false, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p, err := httpx.QueryParams(httptest.NewRequest("GET", "/x?"+tt.query, nil))
			if err != nil {
				t.Fatal(err)
			}
			limit, all := p.Limit("limit"), p.Bool("all")
			p.String("page_token")
			var fields []string
			for _, f := range errs.FieldsOf(p.Err()) {
				fields = append(fields, f.Field)
			}
			if strings.Join(fields, ",") != tt.wantFields {
				t.Errorf("bad fields = %v, want %q", fields, tt.wantFields)
			}
			if tt.wantFields == "" && (limit != tt.wantLimit || all != tt.wantAll) {
				t.Errorf("limit, all = %d, %v; want %d, %v", limit, all, tt.wantLimit, tt.wantAll)
			}
		})
	}
	if _, err := httpx.QueryParams(httptest.NewRequest("GET", "/x?q=%zz", nil)); errs.KindOf(err) != errs.Invalid {
		t.Errorf("malformed escape: %v, want Invalid", err)
	}
}
