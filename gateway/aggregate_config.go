package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Bounds of composite routes.
const (
	DefaultPartTimeout = 2 * time.Second
	maxPartTimeout     = 30 * time.Second
	maxPartCalls       = 100 // per part and request: an order of 100 lines at most
)

// DefaultCompositesJSON declares the composite the gateway ships with:
// GET /api/v1/orders/{id}?expand=products,payment answers the order with
// the current catalog entry of each item (as "product" in the item) and
// its payments (as "payment"). The product calls carry no credentials, so
// the gateway's cache answers them; the payment call carries the caller's,
// as the payment service lets only the order's owner and admins see it.
const DefaultCompositesJSON = `{
  "composites": [
    {
      "name": "order",
      "path": "/api/v1/orders/{id}",
      "parts": [
        {"name": "products", "each": "items", "key": "product_id",
         "path": "/api/v1/products/{key}", "into": "product", "timeout": "1s"},
        {"name": "payment", "path": "/api/v1/payments?order_id={id}",
         "into": "payment", "timeout": "1s", "credentials": true}
      ]
    }
  ]
}`

// ExpandParam is the query parameter that asks for a composite's parts.
const ExpandParam = "expand"

// CompositeConfig is the JSON form of composite routes (see
// ParseComposites).
type CompositeConfig struct {
	Composites []CompositeRoute `json:"composites"`
}

// CompositeRoute answers GET Path?expand=<parts> with the document Path
// returns, enriched by the named parts, fetched in parallel through the
// gateway. Path is a pattern: a segment "{name}" matches any one segment
// and names it for the parts' paths.
type CompositeRoute struct {
	Name  string          `json:"name"`
	Path  string          `json:"path"`
	Parts []CompositePart `json:"parts"`
}

// CompositePart is one call of a composite route.
//
// Without Each, Path (its "{name}" placeholders filled from the route's
// path) is fetched once and its document is set as Into in the base
// document. With Each, Path is fetched for every element of the base's
// array Each, "{key}" filled from the element's Key field, and each
// document is set as Into in its element; equal keys are fetched once.
// Credentials passes the caller's Authorization header on; without it the
// call is anonymous, and public answers come from the gateway's cache.
type CompositePart struct {
	Name        string   `json:"name"`
	Path        string   `json:"path"`
	Into        string   `json:"into"`
	Each        string   `json:"each,omitempty"`
	Key         string   `json:"key,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"`
	Credentials bool     `json:"credentials,omitempty"`
}

// Duration is a time.Duration written as "1s" in JSON.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"1s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Composites is a validated, immutable set of composite routes.
type Composites struct {
	routes []compiledComposite
}

type compiledComposite struct {
	CompositeRoute
	segments []string // of Path; "{x}" matches any segment
	parts    map[string]*CompositePart
}

var (
	partName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	placeholder = regexp.MustCompile(`\{([^{}]*)\}`)
)

// ParseComposites reads and validates composite routes (CompositeConfig
// as JSON, unknown fields refused). Every problem is reported.
func ParseComposites(b []byte) (*Composites, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cfg CompositeConfig
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("composites: %w", err)
	}
	return NewComposites(cfg)
}

// NewComposites validates cfg.
func NewComposites(cfg CompositeConfig) (*Composites, error) {
	var problems []error
	out := &Composites{}
	names := map[string]bool{}
	for i, r := range cfg.Composites {
		where := fmt.Sprintf("composite %d (%q)", i, r.Name)
		bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(where+": "+format, args...)) }
		if !partName.MatchString(r.Name) || names[r.Name] {
			bad("want a unique name of lower-case letters, digits and _")
		}
		names[r.Name] = true
		if r.Path == "" || r.Path[0] != '/' || path.Clean(r.Path) != r.Path || strings.ContainsAny(r.Path, "?#") {
			bad("path %q: want a clean absolute path without a query", r.Path)
			continue
		}
		c := compiledComposite{CompositeRoute: r, segments: strings.Split(r.Path[1:], "/"), parts: map[string]*CompositePart{}}
		vars := map[string]bool{}
		for _, s := range c.segments {
			if v, ok := strings.CutPrefix(s, "{"); ok {
				v, ok = strings.CutSuffix(v, "}")
				if !ok || !partName.MatchString(v) || vars[v] {
					bad("path segment %q: want {name}, each name once", s)
				}
				vars[v] = true
			} else if strings.ContainsAny(s, "{}") {
				bad("path segment %q: a placeholder must be a whole segment", s)
			}
		}
		if len(r.Parts) == 0 {
			bad("no parts")
		}
		for j := range r.Parts {
			p := &c.CompositeRoute.Parts[j]
			pbad := func(format string, args ...any) { bad("part %q: "+format, append([]any{p.Name}, args...)...) }
			if !partName.MatchString(p.Name) || c.parts[p.Name] != nil {
				pbad("want a unique name of lower-case letters, digits and _")
			}
			c.parts[p.Name] = p
			if p.Into == "" || p.Into == expandField {
				pbad("into: want the field to set, not %q", p.Into)
			}
			if (p.Each == "") != (p.Key == "") {
				pbad("each and key go together")
			}
			if p.Timeout == 0 {
				p.Timeout = Duration(DefaultPartTimeout)
			}
			if p.Timeout < 0 || time.Duration(p.Timeout) > maxPartTimeout {
				pbad("timeout %v: want up to %v", time.Duration(p.Timeout), maxPartTimeout)
			}
			if p.Path == "" || p.Path[0] != '/' {
				pbad("path %q: want an absolute path", p.Path)
			}
			for _, m := range placeholder.FindAllStringSubmatch(p.Path, -1) {
				if !vars[m[1]] && (m[1] != "key" || p.Each == "") {
					pbad("path %q: {%s} is neither a variable of the route's path nor {key} of an each", p.Path, m[1])
				}
			}
		}
		out.routes = append(out.routes, c)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return out, nil
}

// match returns the composite whose path matches urlPath, and its
// variables.
func (cs *Composites) match(urlPath string) (*compiledComposite, map[string]string) {
	if cs == nil || len(urlPath) < 2 {
		return nil, nil
	}
	segs := strings.Split(urlPath[1:], "/")
	for i := range cs.routes {
		c := &cs.routes[i]
		if len(c.segments) != len(segs) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for k, s := range c.segments {
			if v, isVar := strings.CutPrefix(s, "{"); isVar {
				if segs[k] == "" {
					ok = false
					break
				}
				vars[strings.TrimSuffix(v, "}")] = segs[k]
			} else if s != segs[k] {
				ok = false
				break
			}
		}
		if ok {
			return c, vars
		}
	}
	return nil, nil
}
