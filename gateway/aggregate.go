package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// expandField is the field of a composite answer that reports each part.
const expandField = "expanded"

// Outcomes of a part, in PartReport.Status.
const (
	partOK      = "ok"
	partPartial = "partial" // an each part some of whose calls failed
	partFailed  = "failed"
	partTimeout = "timeout"
)

// PartReport says how one part of a composite answer went.
type PartReport struct {
	Status string `json:"status"`
	// HTTPStatus and Detail describe a failed single call.
	HTTPStatus int    `json:"http_status,omitempty"`
	Detail     string `json:"detail,omitempty"`
	// Failures lists the failed calls of an each part, by key.
	Failures []KeyFailure `json:"failures,omitempty"`
}

// KeyFailure is one failed call of an each part.
type KeyFailure struct {
	Key        string `json:"key"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// SetComposites replaces the composite routes for the requests that start
// from now on; nil removes them all.
func (g *Gateway) SetComposites(cs *Composites) { g.composites.Store(cs) }

// aggregate answers requests for a composite route with expand; the rest
// go to next, the router.
func (g *Gateway) aggregate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.RawQuery, ExpandParam) {
			next.ServeHTTP(w, r)
			return
		}
		c, vars := g.composites.Load().match(r.URL.Path)
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || !q.Has(ExpandParam) {
			next.ServeHTTP(w, r) // the router refuses a bad query, naming it
			return
		}
		parts, err := c.selectParts(q[ExpandParam])
		if err != nil {
			httpx.WriteError(w, r, g.logger, err)
			return
		}
		q.Del(ExpandParam)
		g.serveComposite(w, r, next, c, vars, parts, q.Encode())
	})
}

// selectParts returns the parts named in the expand values
// ("products,payment", or the parameter repeated), in declaration order.
func (c *compiledComposite) selectParts(values []string) ([]*CompositePart, error) {
	want := map[string]bool{}
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if c.parts[name] == nil {
				known := make([]string, 0, len(c.Parts))
				for _, p := range c.Parts {
					known = append(known, p.Name)
				}
				return nil, errs.InvalidFields(errs.FieldError{Field: ExpandParam, Message: fmt.Sprintf("unknown part %.40q; want some of %s", name, strings.Join(known, ", "))})
			}
			want[name] = true
		}
	}
	var out []*CompositePart
	for i := range c.Parts {
		if want[c.Parts[i].Name] {
			out = append(out, &c.Parts[i])
		}
	}
	return out, nil
}

// partCall is one upstream call of a part.
type partCall struct {
	part   *CompositePart
	key    string // of an each part
	path   string
	status int
	body   []byte
	failed string // "" when it succeeded
	detail string
}

// serveComposite fetches the base document, then every call of the parts in
// parallel, each within its part's timeout, and answers with the base
// document enriched and a report per part. The base failing is the whole
// answer failing; a part failing is reported in it.
func (g *Gateway) serveComposite(w http.ResponseWriter, r *http.Request, next http.Handler, c *compiledComposite, vars map[string]string, parts []*CompositePart, query string) {
	base := r.Clone(r.Context())
	base.URL.RawQuery = query
	base.RequestURI = ""
	rec := &captureWriter{header: make(http.Header)}
	next.ServeHTTP(rec, base)
	var doc map[string]json.RawMessage
	if rec.code() != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &doc) != nil || doc == nil {
		copyCaptured(w, rec) // the base's own answer, whatever it is
		return
	}

	var calls []*partCall
	elements := map[string][]map[string]json.RawMessage{} // each part's array, by part name
	for _, p := range parts {
		if p.Each == "" {
			calls = append(calls, &partCall{part: p, path: fillPath(p.Path, vars, "")})
			continue
		}
		var arr []map[string]json.RawMessage
		if err := json.Unmarshal(doc[p.Each], &arr); err != nil {
			continue // reported as failed below: nothing to expand
		}
		elements[p.Name] = arr
		seen := map[string]bool{}
		for _, el := range arr {
			var key string
			if json.Unmarshal(el[p.Key], &key) != nil || key == "" || seen[key] {
				continue
			}
			seen[key] = true
			if len(seen) > maxPartCalls {
				break
			}
			calls = append(calls, &partCall{part: p, key: key, path: fillPath(p.Path, vars, key)})
		}
	}
	var wg sync.WaitGroup
	for _, call := range calls {
		wg.Go(func() { g.callPart(r, next, call) })
	}
	wg.Wait()

	report := map[string]PartReport{}
	byKey := map[string]map[string]*partCall{}
	for _, call := range calls {
		p := call.part
		if p.Each == "" {
			rep := PartReport{Status: partOK}
			if call.failed != "" {
				rep = PartReport{Status: call.failed, HTTPStatus: call.status, Detail: call.detail}
			} else {
				doc[p.Into] = call.body
			}
			report[p.Name] = rep
			continue
		}
		if byKey[p.Name] == nil {
			byKey[p.Name] = map[string]*partCall{}
		}
		byKey[p.Name][call.key] = call
	}
	for _, p := range parts {
		if p.Each == "" {
			continue
		}
		arr, ok := elements[p.Name]
		if !ok {
			report[p.Name] = PartReport{Status: partFailed, Detail: fmt.Sprintf("the document has no array %q", p.Each)}
			continue
		}
		rep := PartReport{Status: partOK}
		for _, call := range byKey[p.Name] {
			if call.failed != "" {
				rep.Failures = append(rep.Failures, KeyFailure{Key: call.key, Status: call.failed, HTTPStatus: call.status, Detail: call.detail})
			}
		}
		slices.SortFunc(rep.Failures, func(a, b KeyFailure) int { return strings.Compare(a.Key, b.Key) })
		switch {
		case len(rep.Failures) == 0:
		case len(rep.Failures) == len(byKey[p.Name]):
			rep.Status = partFailed
		default:
			rep.Status = partPartial
		}
		for _, el := range arr {
			var key string
			if json.Unmarshal(el[p.Key], &key) != nil {
				continue
			}
			if call := byKey[p.Name][key]; call != nil && call.failed == "" {
				el[p.Into] = call.body
			}
		}
		doc[p.Each], _ = json.Marshal(arr)
		report[p.Name] = rep
	}
	doc[expandField], _ = json.Marshal(report)
	body, err := json.Marshal(doc)
	if err != nil {
		httpx.WriteError(w, r, g.logger, errs.Wrap(err, errs.Internal, ""))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// The parts may be the caller's own (a payment): never shared.
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n'))
}

// callPart makes one call through the router, within the part's timeout,
// with the caller's credentials only if the part asks for them.
func (g *Gateway) callPart(r *http.Request, next http.Handler, call *partCall) {
	ctx, cancel := context.WithTimeout(r.Context(), timeoutOf(call.part))
	defer cancel()
	ctx = context.WithValue(ctx, infoKey{}, &requestInfo{}) // its own routing state
	u, err := url.Parse(call.path)
	if err != nil {
		call.failed, call.detail = partFailed, "bad path"
		return
	}
	req := (&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{"Accept": {"application/json"}},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: r.Host, RemoteAddr: r.RemoteAddr, Body: http.NoBody}).WithContext(ctx)
	if a := r.Header.Values("Authorization"); call.part.Credentials && len(a) > 0 {
		req.Header["Authorization"] = a
	}
	rec := &captureWriter{header: make(http.Header)}
	next.ServeHTTP(rec, req)
	call.status = rec.code()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		call.failed, call.status, call.detail = partTimeout, 0, "no answer within "+timeoutOf(call.part).String()
	case call.status != http.StatusOK || !json.Valid(rec.body.Bytes()):
		call.failed = partFailed
		var p httpx.Problem
		if json.Unmarshal(rec.body.Bytes(), &p) == nil && p.Title != "" {
			call.detail = strings.TrimSpace(p.Title + ": " + p.Detail)
			call.detail = strings.TrimSuffix(call.detail, ":")
		} else {
			call.detail = http.StatusText(call.status)
		}
	default:
		call.body = rec.body.Bytes()
	}
}

func timeoutOf(p *CompositePart) time.Duration { return time.Duration(p.Timeout) }

// fillPath fills a part's path: {key} with key, other placeholders with
// the route's variables, escaped for where they stand.
func fillPath(tmpl string, vars map[string]string, key string) string {
	pathPart, query, hasQuery := strings.Cut(tmpl, "?")
	value := func(name string) string {
		if name == "key" && key != "" {
			return key
		}
		return vars[name]
	}
	out := placeholder.ReplaceAllStringFunc(pathPart, func(m string) string { return url.PathEscape(value(m[1 : len(m)-1])) })
	if hasQuery {
		out += "?" + placeholder.ReplaceAllStringFunc(query, func(m string) string { return url.QueryEscape(value(m[1 : len(m)-1])) })
	}
	return out
}

// copyCaptured writes a captured answer as it is.
func copyCaptured(w http.ResponseWriter, rec *captureWriter) {
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.code())
	w.Write(rec.body.Bytes())
}
