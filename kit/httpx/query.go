package httpx

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kitshop/kitshop/kit/errs"
)

// Query returns the query parameters of r, strictly: where r.URL.Query
// silently drops a parameter it cannot decode (so ?q=%zz would list
// everything, unfiltered), Query returns an errs.Invalid error naming it.
// A malformed %-escape, a ';' separator (which url.ParseQuery refuses) and
// a name or value that is not UTF-8 once decoded are all errors, one field
// error per parameter.
func Query(r *http.Request) (url.Values, error) {
	return ParseQuery(r.URL.RawQuery)
}

// ParseQuery is Query for a raw query string. It parses with
// url.ParseQuery and, when that fails, walks the parameters once more to
// name the ones at fault.
func ParseQuery(raw string) (url.Values, error) {
	values, err := url.ParseQuery(raw)
	var fields []errs.FieldError
	if err != nil {
		fields = badQueryParams(raw)
		if len(fields) == 0 { // cannot happen; keep the 400 anyway
			fields = []errs.FieldError{{Field: "query", Message: "is not a valid URL query"}}
		}
	} else {
		for _, name := range slices.Sorted(maps.Keys(values)) {
			vs := values[name]
			if !utf8.ValidString(name) {
				fields = append(fields, errs.FieldError{Field: "query", Message: "has a parameter name that is not valid UTF-8"})
				continue
			}
			for _, v := range vs {
				if !utf8.ValidString(v) {
					fields = append(fields, errs.FieldError{Field: name, Message: "must be valid UTF-8 text"})
					break
				}
			}
		}
	}
	if len(fields) > 0 {
		return nil, &errs.Error{Kind: errs.Invalid, Message: "invalid query parameters", Fields: fields, Err: err}
	}
	return values, nil
}

// badQueryParams names the parameters of raw that url.ParseQuery cannot
// decode. A parameter whose name itself is malformed is reported as the
// field "query": its raw text is not echoed.
func badQueryParams(raw string) []errs.FieldError {
	var fields []errs.FieldError
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil || strings.Contains(k, ";") || !utf8.ValidString(name) {
			fields = append(fields, errs.FieldError{Field: "query", Message: "has a malformed parameter name"})
			continue
		}
		if strings.Contains(v, ";") {
			fields = append(fields, errs.FieldError{Field: name, Message: "must not contain ';' (separate parameters with '&')"})
			continue
		}
		if _, err := url.QueryUnescape(v); err != nil {
			fields = append(fields, errs.FieldError{Field: name, Message: "is not a valid URL escape"})
		}
	}
	return fields
}
