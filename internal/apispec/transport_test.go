package apispec_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kitshop/kitshop/internal/apispec"
)

const (
	productJSON = `{"id":"0b3c7c3e-2b0e-4c45-9d43-7c1f1f1e1a01","sku":"DEMO-1","name":"Mug","description":"",` +
		`"price_minor":1500,"currency":"EUR","stock":10,"created_at":"2026-12-06T10:00:00Z","updated_at":"2026-12-06T10:00:00Z"}`
	problem400 = `{"type":"urn:kitshop:problem:invalid","title":"Bad Request","status":400,"kind":"invalid","request_id":"r1",` +
		`"errors":[{"field":"name","message":"must not be empty"}]}`
	problem404 = `{"type":"urn:kitshop:problem:not_found","title":"Not Found","status":404,"detail":"no such endpoint","kind":"not_found","request_id":"r1"}`
)

// answer is what the fake gateway says.
type answer struct {
	status      int
	contentType string
	body        string
	header      map[string]string
}

// TestTransport sends requests through a Transport to a fake gateway that
// gives canned answers, and checks which exchanges it reports.
func TestTransport(t *testing.T) {
	v, err := apispec.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		method, path string
		header       map[string]string
		body         string
		answer       answer
		wantReport   string // substring; "" for none
	}{
		{
			name: "a product as documented", method: "GET", path: "/api/v1/products/x",
			answer: answer{status: 200, contentType: "application/json; charset=utf-8", body: productJSON},
		},
		{
			name: "a product with a member the document lacks", method: "GET", path: "/api/v1/products/x",
			answer:     answer{status: 200, contentType: "application/json", body: strings.Replace(productJSON, `"stock":10`, `"stock":10,"colour":"red"`, 1)},
			wantReport: "colour",
		},
		{
			name: "a product without a required member", method: "GET", path: "/api/v1/products/x",
			answer:     answer{status: 200, contentType: "application/json", body: strings.Replace(productJSON, `"sku":"DEMO-1",`, "", 1)},
			wantReport: "sku",
		},
		{
			name: "no request id", method: "GET", path: "/api/v1/products/x",
			answer:     answer{status: 200, contentType: "application/json", body: productJSON, header: map[string]string{"X-Request-ID": ""}},
			wantReport: "X-Request-ID",
		},
		{
			name: "an error that is not a problem", method: "GET", path: "/api/v1/products/x",
			answer:     answer{status: 404, contentType: "text/plain", body: "404 page not found"},
			wantReport: "text/plain",
		},
		{
			name: "an undocumented path refused", method: "GET", path: "/api/v1/nope",
			answer: answer{status: 404, contentType: "application/problem+json", body: problem404},
		},
		{
			name: "an undocumented path served", method: "GET", path: "/api/v1/nope",
			answer:     answer{status: 200, contentType: "application/json", body: `{}`},
			wantReport: "not in the document",
		},
		{
			name: "a storefront page", method: "GET", path: "/metrics",
			answer: answer{status: 404, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>Not found</title>"},
		},
		{
			name: "a storefront page failing", method: "GET", path: "/cart",
			answer:     answer{status: 502, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>Oops</title>"},
			wantReport: "storefront",
		},
		{
			name: "an API path in capitals is the API's", method: "GET", path: "/API/v1/nope",
			answer:     answer{status: 404, contentType: "text/html; charset=utf-8", body: "<!doctype html>"},
			wantReport: "problem+json",
		},
		{
			name: "an undocumented method refused", method: "PUT", path: "/api/v1/products/x",
			answer: answer{status: 405, contentType: "application/problem+json", body: strings.ReplaceAll(problem400, "400", "405")},
		},
		{
			name: "a malformed request refused", method: "POST", path: "/api/v1/products",
			header: map[string]string{"Authorization": "Bearer t", "Content-Type": "application/json"},
			body:   `{"sku":"A-1","name":"Mug","price_minor":1,"currency":"EUR","colour":"red"}`,
			answer: answer{status: 400, contentType: "application/problem+json", body: problem400},
		},
		{
			name: "a malformed request accepted", method: "POST", path: "/api/v1/products",
			header:     map[string]string{"Authorization": "Bearer t", "Content-Type": "application/json"},
			body:       `{"sku":"A-1","name":"Mug","price_minor":1,"currency":"EUR","colour":"red"}`,
			answer:     answer{status: 201, contentType: "application/json", body: productJSON, header: map[string]string{"Location": "/api/v1/products/x"}},
			wantReport: "the request breaks the document",
		},
		{
			name: "a request without a token accepted", method: "POST", path: "/api/v1/products",
			header:     map[string]string{"Content-Type": "application/json"},
			body:       `{"sku":"A-1","name":"Mug","price_minor":1,"currency":"EUR"}`,
			answer:     answer{status: 201, contentType: "application/json", body: productJSON, header: map[string]string{"Location": "/api/v1/products/x"}},
			wantReport: "the request breaks the document",
		},
		{
			name: "a created product without its Location", method: "POST", path: "/api/v1/products",
			header:     map[string]string{"Authorization": "Bearer t", "Content-Type": "application/json"},
			body:       `{"sku":"A-1","name":"Mug","price_minor":1,"currency":"EUR"}`,
			answer:     answer{status: 201, contentType: "application/json", body: productJSON},
			wantReport: "Location",
		},
		{
			name: "a valid request refused for a business rule", method: "POST", path: "/api/v1/products",
			header: map[string]string{"Authorization": "Bearer t", "Content-Type": "application/json"},
			body:   `{"sku":"A-1","name":"Mug","price_minor":1,"currency":"EUR"}`,
			answer: answer{status: 409, contentType: "application/problem+json", body: strings.NewReplacer("400", "409", "invalid", "conflict").Replace(problem400)},
		},
		{
			name: "a problem with an unknown kind", method: "GET", path: "/api/v1/products/x",
			answer:     answer{status: 404, contentType: "application/problem+json", body: strings.Replace(problem404, `"kind":"not_found"`, `"kind":"missing"`, 1)},
			wantReport: "kind",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				w.Header().Set("X-Request-ID", "r1")
				for k, v := range tt.answer.header {
					if v == "" {
						w.Header().Del(k)
					} else {
						w.Header().Set(k, v)
					}
				}
				w.Header().Set("Content-Type", tt.answer.contentType)
				w.WriteHeader(tt.answer.status)
				io.WriteString(w, tt.answer.body)
			}))
			defer srv.Close()
			var (
				mu      sync.Mutex
				reports []string
			)
			client := &http.Client{Transport: &apispec.Transport{Validator: v, Report: func(err error) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, err.Error())
			}}}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tt.answer.body || gotBody != tt.body {
				t.Errorf("the exchange changed on its way: sent %q, got %q; want %q, %q", gotBody, got, tt.body, tt.answer.body)
			}
			switch {
			case tt.wantReport == "" && len(reports) > 0:
				t.Errorf("reported %q, want nothing", reports)
			case tt.wantReport != "" && (len(reports) != 1 || !strings.Contains(reports[0], tt.wantReport)):
				t.Errorf("reported %q, want one report mentioning %q", reports, tt.wantReport)
			}
		})
	}
}
