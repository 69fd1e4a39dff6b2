package apispec_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/apispec"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user"
)

// TestDocumentIsValid checks that gateway/openapi.yaml is an OpenAPI 3.1
// document without errors, and that what the gateway serves is it.
func TestDocumentIsValid(t *testing.T) {
	doc, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if _, err := gateway.OpenAPIJSON(); err != nil {
		t.Errorf("OpenAPIJSON: %v", err)
	}
	if doc.Paths.Find(gateway.OpenAPIPath) == nil {
		t.Errorf("the document does not describe itself at %s", gateway.OpenAPIPath)
	}
	// The catalog's reads may come from its cache while its database is
	// out, and say so in a header.
	for _, p := range []string{product.CollectionPath, product.ItemPath} {
		ok := doc.Paths.Value(p).Get.Responses.Status(http.StatusOK).Value
		h := ok.Headers[product.StaleHeader]
		if h == nil || h.Value.Schema.Value.Const != product.StaleWarning {
			t.Errorf("GET %s 200: no %s header with the value %q", p, product.StaleHeader, product.StaleWarning)
		}
	}
}

// methods are the methods probed on every documented path.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// TestEveryServiceRouteIsDocumented holds the document to the services'
// routers, in both directions: every path a service declares is in the
// document, and on every documented path of a service, a method is
// documented exactly when the service's router serves it. The handlers are
// built without endpoints: a served route answers with a 400 (its decoder)
// or a 500 (no endpoint), an unserved one with the router's 404 or 405.
func TestEveryServiceRouteIsDocumented(t *testing.T) {
	doc, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	nop := log.NewNopLogger()
	services := []struct {
		name     string
		handler  http.Handler
		prefixes []string // the gateway routes these to the service
		paths    []string // every path the service declares
	}{
		{
			name:     "product",
			handler:  product.NewHTTPHandler(product.Endpoints{}, nop),
			prefixes: []string{product.CollectionPath},
			paths:    []string{product.CollectionPath, product.ItemPath},
		},
		{
			name:     "user",
			handler:  user.NewHTTPHandler(user.Endpoints{}, nop),
			prefixes: user.APIPrefixes,
			// user.JWKSPath (/.well-known/jwks.json) is for callers that
			// reach the service directly: the gateway does not route it.
			paths: []string{user.UsersPath, user.MePath, user.LoginPath, user.RefreshPath, user.LogoutPath, user.AuthJWKSPath, user.TokenPath},
		},
		{
			name:     "order",
			handler:  order.NewHTTPHandler(order.Endpoints{}, nop),
			prefixes: []string{order.CollectionPath},
			paths:    []string{order.CollectionPath, order.ItemPath, order.CancelPath},
		},
	}
	documented := map[string]bool{}
	for p := range doc.Paths.Map() {
		documented[p] = true
	}
	owner := func(p string) int {
		for i, s := range services {
			for _, prefix := range s.prefixes {
				if p == prefix || strings.HasPrefix(p, prefix+"/") {
					return i
				}
			}
		}
		return -1
	}
	for _, s := range services {
		for _, p := range s.paths {
			if !documented[p] {
				t.Errorf("%s serves %s, which gateway/openapi.yaml does not document", s.name, p)
			}
			if owner(p) < 0 {
				t.Errorf("%s declares %s outside its prefixes %q", s.name, p, s.prefixes)
			}
		}
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range documented {
			if !yield(p) {
				return
			}
		}
	}) {
		i := owner(p)
		if i < 0 {
			continue // the gateway's own
		}
		s := services[i]
		item := doc.Paths.Value(p)
		concrete := param.ReplaceAllString(p, "0b3c7c3e-2b0e-4c45-9d43-7c1f1f1e1a01")
		for _, m := range methods {
			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, httptest.NewRequest(m, concrete, strings.NewReader("{}")))
			served := rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed
			if has := item.GetOperation(m) != nil; has != served {
				t.Errorf("%s %s: documented %v, but %s serves it: %v (status %d)", m, p, has, s.name, served, rec.Code)
			}
		}
	}
}
