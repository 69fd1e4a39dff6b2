package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/gateway"
)

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		value        string
		want         []string
		wantProblems []string // substrings, one per reported problem
	}{
		{value: "/api/v1/products", want: []string{"/api/v1/products"}},
		{value: "/api/v1/users,/api/v1/auth", want: []string{"/api/v1/auth", "/api/v1/users"}},
		{value: " /api/v1/users , /api/v1/auth/ ", want: []string{"/api/v1/auth", "/api/v1/users"}},
		{value: "/api/v1/users,/api/v1/users/", want: []string{"/api/v1/users"}},
		{value: "/api/v1/users,,", want: []string{"/api/v1/users"}},
		{value: ""},
		{value: " , "},
		{value: "/api/v1/users,api/v1/auth", want: []string{"/api/v1/users"}, wantProblems: []string{"must start with /"}},
		{value: "/,/api/../admin,/ok", want: []string{"/", "/ok"}, wantProblems: []string{"clean path"}}, // "/" is the site
		{value: "/api/v1/users /api/v1/auth", wantProblems: []string{"not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, problems := gateway.ParsePrefixes(tt.value)
			if !slices.Equal(got, tt.want) {
				t.Errorf("prefixes = %q, want %q", got, tt.want)
			}
			checkProblems(t, problems, tt.wantProblems)
		})
	}
}

func TestParsePublicRoutes(t *testing.T) {
	tests := []struct {
		name         string
		value        string
		want         string // the parsed set, as String prints it
		wantProblems []string
	}{
		{name: "empty", value: ""},
		{name: "one", value: "GET /api/v1/products", want: "GET /api/v1/products"},
		{
			name:  "user service",
			value: "POST /api/v1/users,POST /api/v1/auth/login,POST /api/v1/auth/refresh,POST /api/v1/auth/logout,GET /api/v1/auth/jwks.json",
			want:  "GET /api/v1/auth/jwks.json,POST /api/v1/auth/login,POST /api/v1/auth/logout,POST /api/v1/auth/refresh,POST /api/v1/users",
		},
		{
			name:  "exact entries",
			value: "POST =/api/v1/users,GET =/api/v1/auth/jwks.json/,POST /api/v1/users",
			want:  "GET =/api/v1/auth/jwks.json,POST /api/v1/users,POST =/api/v1/users",
		},
		{name: "exact root", value: "GET =/", want: "GET =/"}, // the site's home page
		{name: "exact mark alone", value: "GET =", wantProblems: []string{"below the root"}},
		{name: "exact mark apart", value: "GET = /a", wantProblems: []string{`"METHOD =/exact/path"`}},
		{name: "spaces and blank entries", value: " GET   /a/ ,, POST /b,", want: "GET /a,POST /b"},
		{name: "duplicates", value: "GET /a,GET /a/,GET /a", want: "GET /a"},
		{name: "lower-case method", value: "get /a,GET /b", want: "GET /b", wantProblems: []string{"upper-case"}},
		{name: "no method", value: "/a", wantProblems: []string{`want "METHOD /path/prefix"`}},
		{name: "no path", value: "GET", wantProblems: []string{`want "METHOD /path/prefix"`}},
		{name: "three words", value: "GET /a /b", wantProblems: []string{`want "METHOD /path/prefix"`}},
		{name: "root", value: "GET /", want: "GET /"}, // the whole site (gateway.SitePrefix)
		{name: "relative path", value: "GET api", wantProblems: []string{"must start with /"}},
		{name: "dot segments", value: "GET /api/../admin", wantProblems: []string{"clean path"}},
		{name: "wildcard method", value: "* /api", wantProblems: []string{"upper-case"}},
		{name: "query in path", value: "GET /api?x", wantProblems: []string{"not allowed"}},
		{
			name:         "malformed among good",
			value:        "GET /a,POST,DELETE /../x,PUT /b",
			want:         "GET /a,PUT /b",
			wantProblems: []string{"METHOD /path/prefix", "clean path"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := gateway.ParsePublicRoutes(tt.value)
			if got.String() != tt.want {
				t.Errorf("ParsePublicRoutes(%q) = %q, want %q", tt.value, got, tt.want)
			}
			checkProblems(t, problems, tt.wantProblems)
		})
	}
}

func TestPublicRoutesAllows(t *testing.T) {
	public := mustPublic(t, "GET /api/v1/products,POST /api/v1/auth/login,HEAD /api/v1/ping,DELETE /api/v1/cart/items,"+
		"POST =/api/v1/users,GET =/api/v1/auth/jwks.json")
	tests := []struct {
		method, path, rawPath string
		want                  bool
	}{
		{method: "GET", path: "/api/v1/products", want: true},
		{method: "GET", path: "/api/v1/products/", want: true},
		{method: "GET", path: "/api/v1/products/42", want: true},
		{method: "GET", path: "/api/v1/products/42/images/1", want: true},
		{method: "HEAD", path: "/api/v1/products/42", want: true}, // GET covers HEAD
		{method: "GET", path: "/api/v1/productsale"},              // not a segment boundary
		{method: "GET", path: "/api/v1/product"},
		{method: "GET", path: "/api/v1"},
		{method: "POST", path: "/api/v1/products"},
		{method: "PUT", path: "/api/v1/products/42"},
		{method: "get", path: "/api/v1/products"}, // methods are case-sensitive
		{method: "POST", path: "/api/v1/auth/login", want: true},
		{method: "POST", path: "/api/v1/auth/loginx"},
		{method: "POST", path: "/api/v1/auth/logout"},
		{method: "GET", path: "/api/v1/auth/login"},
		{method: "HEAD", path: "/api/v1/ping", want: true},
		{method: "GET", path: "/api/v1/ping"}, // HEAD does not cover GET
		{method: "DELETE", path: "/api/v1/cart/items/3", want: true},
		{method: "DELETE", path: "/api/v1/cart"},
		// Exact entries: the path itself, nothing below it.
		{method: "POST", path: "/api/v1/users", want: true},
		{method: "POST", path: "/api/v1/users/"},
		{method: "POST", path: "/api/v1/users/me"},
		{method: "POST", path: "/api/v1/users/42/roles"},
		{method: "GET", path: "/api/v1/users"},
		{method: "GET", path: "/api/v1/auth/jwks.json", want: true},
		{method: "HEAD", path: "/api/v1/auth/jwks.json", want: true},
		{method: "GET", path: "/api/v1/auth/jwks.json/x"},
		{method: "POST", path: "/api/v1/users", rawPath: "/api/v1/user%73"},
		// An encoded slash makes a different path for an upstream that
		// routes on the raw form.
		{method: "GET", path: "/api/v1/products/x", rawPath: "/api/v1/products%2Fx"},
		{method: "GET", path: "/api/v1/products/a b", rawPath: "/api/v1/products/a%20b", want: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %s", tt.method, tt.path, tt.rawPath), func(t *testing.T) {
			if got := public.Allows(tt.method, tt.path, tt.rawPath); got != tt.want {
				t.Errorf("Allows(%s, %q, %q) = %v, want %v", tt.method, tt.path, tt.rawPath, got, tt.want)
			}
		})
	}

	var none gateway.PublicRoutes
	if none.Allows(http.MethodGet, "/api/v1/products", "") {
		t.Error("the zero PublicRoutes allows a request, want nothing public")
	}
}

func TestNewPublicRoutes(t *testing.T) {
	got, err := gateway.NewPublicRoutes(gateway.PublicRoute{Method: "POST", Path: "/b/"}, gateway.PublicRoute{Method: "GET", Path: "/a"},
		gateway.PublicRoute{Method: "PUT", Path: "/c", Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "GET /a,POST /b,PUT =/c"; got.String() != want || got.Len() != 3 {
		t.Errorf("NewPublicRoutes = %q (%d entries), want %q", got, got.Len(), want)
	}
	if !got.Equal(mustPublic(t, "PUT =/c,POST /b,GET /a")) {
		t.Error("Equal is false for the same routes in another order")
	}
	for _, bad := range []gateway.PublicRoute{{Method: "", Path: "/a"}, {Method: "Get", Path: "/a"}} {
		if _, err := gateway.NewPublicRoutes(bad); err == nil {
			t.Errorf("NewPublicRoutes(%+v) succeeded, want an error", bad)
		}
	}
}

// checkProblems checks that each problem mentions the wanted substring, in
// order.
func checkProblems(t *testing.T, problems []error, want []string) {
	t.Helper()
	if len(problems) != len(want) {
		t.Fatalf("problems = %v, want %d mentioning %q", problems, len(want), want)
	}
	for i, err := range problems {
		if !strings.Contains(err.Error(), want[i]) {
			t.Errorf("problem %d = %v, want it to mention %q", i, err, want[i])
		}
	}
}
