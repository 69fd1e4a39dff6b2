package httpx

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/paging"
)

// Params reads a request's query parameters one by one, each at most once,
// and collects what is wrong with them, so that a list endpoint's decoder
// reads as the parameters it takes:
//
//	p, err := httpx.QueryParams(r)
//	if err != nil {
//		return nil, err
//	}
//	req := ListRequest{Limit: p.Limit("limit"), PageToken: p.String("page_token")}
//	if err := p.Err(); err != nil {
//		return nil, err
//	}
type Params struct {
	values url.Values
	fields []errs.FieldError
}

// QueryParams returns r's query parameters, decoded strictly (see Query).
func QueryParams(r *http.Request) (*Params, error) {
	values, err := Query(r)
	if err != nil {
		return nil, err
	}
	return &Params{values: values}, nil
}

// Lookup returns the parameter name and whether it is present. A parameter
// given more than once is an error.
func (p *Params) Lookup(name string) (string, bool) {
	vs, present := p.values[name]
	if len(vs) > 1 {
		p.fields = append(p.fields, errs.FieldError{Field: name, Message: "must be given at most once"})
	}
	if len(vs) == 0 {
		return "", present
	}
	return vs[0], true
}

// String returns the parameter name, or "" when it is absent.
func (p *Params) String(name string) string {
	v, _ := p.Lookup(name)
	return v
}

// Limit returns the page size in parameter name, or 0 when it is absent.
// An explicit limit must be an integer and a real page size: 0 is only the
// default for callers that leave it out. The service checks the upper bound.
func (p *Params) Limit(name string) int {
	v, present := p.Lookup(name)
	if !present {
		return 0
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		p.fields = append(p.fields, errs.FieldError{Field: name, Message: "must be an integer"})
	case n == 0:
		p.fields = append(p.fields, errs.FieldError{Field: name, Message: paging.DefaultSizes.RangeMessage()})
	}
	return n
}

// Bool returns the boolean parameter name, false when it is absent.
func (p *Params) Bool(name string) bool {
	v, present := p.Lookup(name)
	if !present {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fields = append(p.fields, errs.FieldError{Field: name, Message: "must be true or false"})
	}
	return b
}

// Err returns an errs.Invalid naming every bad parameter read so far, or
// nil.
func (p *Params) Err() error { return errs.InvalidFields(p.fields...) }
