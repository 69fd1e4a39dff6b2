package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/web"
)

// newHTTPServer serves the real service on a fresh database, with request
// ids as in production, verifying tokens of the returned callers' signer.
func newHTTPServer(t *testing.T) (*httptest.Server, callers) {
	t.Helper()
	who := newCallers(t)
	svc, _ := newPostgresService(t)
	h := web.NewHTTPHandler(web.NewEndpoints(svc, who.signer.Verifier()), log.NewNopLogger())
	srv := httptest.NewServer(requestid.HTTPMiddleware(h))
	t.Cleanup(srv.Close)
	return srv, who
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// do makes one request as the caller of token ("" for an anonymous one),
// with a Content-Type when contentType is not empty.
func do(t *testing.T, token, method, url, contentType, body string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func doJSON(t *testing.T, token, method, url, body string) httpResult {
	t.Helper()
	return do(t, token, method, url, "application/json", body)
}

// decodeProblem checks that r is a problem document for status and returns
// it.
func decodeProblem(t *testing.T, r httpResult, wantStatus int) httpx.Problem {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, httpx.ProblemContentType)
	}
	var p httpx.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != wantStatus || p.Kind == "" || p.Type != "urn:kitshop:problem:"+p.Kind {
		t.Errorf("malformed problem %+v", p)
	}
	if p.RequestID == "" || p.RequestID != r.header.Get(requestid.Header) {
		t.Errorf("problem request_id %q, response header %q", p.RequestID, r.header.Get(requestid.Header))
	}
	return p
}

func TestHTTPCreateGetList(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + web.CollectionPath

	r := doJSON(t, who.admin, http.MethodPost, base, `{"name":"Blue widget","description":"The blue one","quantity":12}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST status = %d, want 201; body %s", r.status, r.body)
	}
	var created web.Item
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	if created.Name != "Blue widget" || created.Description != "The blue one" || created.Quantity != 12 {
		t.Errorf("created %+v", created)
	}
	loc := r.header.Get("Location")
	if want := "/api/v1/web/items/" + created.ID; loc != want {
		t.Errorf("Location = %q, want %q", loc, want)
	}

	// Reading needs no token.
	r = do(t, "", http.MethodGet, srv.URL+loc, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET status = %d; body %s", r.status, r.body)
	}
	var got web.Item
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != created.ID || got.Name != created.Name || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("GET = %+v, want %+v", got, created)
	}

	// Only the name is required.
	if r := doJSON(t, who.admin, http.MethodPost, base, `{"name":"Red widget"}`); r.status != http.StatusCreated {
		t.Fatalf("POST with the name only: status %d; body %s", r.status, r.body)
	}
	var names []string
	next := base + "?limit=1"
	for range 5 {
		r = do(t, "", http.MethodGet, next, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("LIST status = %d; body %s", r.status, r.body)
		}
		var page struct {
			Items         []web.Item `json:"items"`
			NextPageToken string     `json:"next_page_token"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		if page.NextPageToken == "" {
			break
		}
		next = base + "?limit=1&page_token=" + url.QueryEscape(page.NextPageToken)
	}
	if want := []string{"Blue widget", "Red widget"}; !slices.Equal(names, want) {
		t.Errorf("listed %v, want %v", names, want)
	}
}

// TestHTTPAccessRules checks who may create: only an admin. A request
// without a valid token gets 401 with a Bearer challenge, a customer 403.
func TestHTTPAccessRules(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + web.CollectionPath
	tests := []struct {
		name, token string
		want        int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"garbage token", "not-a-token", http.StatusUnauthorized},
		{"customer", who.customer, http.StatusForbidden},
		{"admin", who.admin, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doJSON(t, tt.token, http.MethodPost, base, `{"name":"Made by `+tt.name+`"}`)
			if tt.want == http.StatusCreated {
				if r.status != tt.want {
					t.Fatalf("status = %d, want %d; body %s", r.status, tt.want, r.body)
				}
				return
			}
			decodeProblem(t, r, tt.want)
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestHTTPBadRequests(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + web.CollectionPath
	tests := []struct {
		name, method, path, contentType, body string
		wantStatus                            int
		wantFields                            []string
	}{
		{"missing name", http.MethodPost, "", "application/json", `{"quantity":1}`, http.StatusBadRequest, []string{"name"}},
		{"null name", http.MethodPost, "", "application/json", `{"name":null}`, http.StatusBadRequest, []string{"name"}},
		{"every field bad", http.MethodPost, "", "application/json", `{"name":"","quantity":-1}`, http.StatusBadRequest, []string{"name", "quantity"}},
		{"unknown field", http.MethodPost, "", "application/json", `{"name":"x","colour":"blue"}`, http.StatusBadRequest, nil},
		{"malformed JSON", http.MethodPost, "", "application/json", `{"name":`, http.StatusBadRequest, nil},
		{"wrong type", http.MethodPost, "", "application/json", `{"name":"x","quantity":"many"}`, http.StatusBadRequest, nil},
		{"not JSON", http.MethodPost, "", "text/plain", `name=x`, http.StatusBadRequest, nil},
		{"bad limit", http.MethodGet, "?limit=x", "", "", http.StatusBadRequest, []string{"limit"}},
		{"zero limit", http.MethodGet, "?limit=0", "", "", http.StatusBadRequest, []string{"limit"}},
		{"bad page token", http.MethodGet, "?page_token=nope", "", "", http.StatusBadRequest, []string{"page_token"}},
		{"malformed id", http.MethodGet, "/not-a-uuid", "", "", http.StatusBadRequest, []string{"id"}},
		{"unknown id", http.MethodGet, "/" + uuid.NewString(), "", "", http.StatusNotFound, nil},
		{"method not allowed", http.MethodDelete, "", "", "", http.StatusMethodNotAllowed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, who.admin, tt.method, base+tt.path, tt.contentType, tt.body)
			p := decodeProblem(t, r, tt.wantStatus)
			if tt.wantFields == nil {
				return
			}
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("problem fields = %v, want %v", got, tt.wantFields)
			}
		})
	}

	// A name taken already is a conflict naming the field.
	doJSON(t, who.admin, http.MethodPost, base, `{"name":"Blue widget"}`)
	p := decodeProblem(t, doJSON(t, who.admin, http.MethodPost, base, `{"name":"Blue widget"}`), http.StatusConflict)
	if len(p.Errors) != 1 || p.Errors[0].Field != "name" {
		t.Errorf("conflict errors = %+v, want one for name", p.Errors)
	}
}
