package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kitshop/kitshop/internal/jsonstr"
)

// encodingJSON is what encoding/json writes for s, with or without its HTML
// escapes.
func encodingJSON(t testing.TB, s string, html bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

var cases = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rret", "\b\f\x00\x1f\x7f",
	"<script>&amp;</script>", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff utf-8 \xc3", "\xe2\x80",
}

func TestAppend(t *testing.T) {
	for _, s := range cases {
		for _, html := range []bool{true, false} {
			if got, want := string(jsonstr.Append(nil, s, html)), encodingJSON(t, s, html); got != want {
				t.Errorf("Append(%q, html=%v) = %s, encoding/json writes %s", s, html, got, want)
			}
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, html := range []bool{true, false} {
			if got, want := string(jsonstr.Append([]byte("x"), s, html)), "x"+encodingJSON(t, s, html); got != want {
				t.Errorf("Append(%q, html=%v) = %s, encoding/json writes %s", s, html, got, want)
			}
		}
	})
}
