package local_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func apiDo(t *testing.T, method, u, token string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

func apiLogin(t *testing.T, base, email, password string) string {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	apiDo(t, http.MethodPost, base+"/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tok)
	return tok.AccessToken
}

func apiCreateProduct(t *testing.T, base, token, sku, name string, price, stock int64) string {
	var p struct {
		ID string `json:"id"`
	}
	apiDo(t, http.MethodPost, base+"/api/v1/products", token, map[string]any{
		"sku": sku, "name": name, "description": "Made for the storefront test.", "price_minor": price, "currency": "EUR", "stock": stock}, &p)
	return p.ID
}

func apiStock(t *testing.T, base, id string) int64 {
	var p struct {
		Stock int64 `json:"stock"`
	}
	apiDo(t, http.MethodGet, base+"/api/v1/products/"+id, "", nil, &p)
	return p.Stock
}

// formClient is a browser without a browser: cookies, and the forms'
// CSRF tokens read from the pages.
type formClient struct {
	base string
	c    *http.Client
	csrf string
}

func newFormClient(t *testing.T, base string) *formClient {
	jar, _ := cookiejar.New(nil)
	return &formClient{base: base, c: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func formValue(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s field in the page:\n%.2000s", name, body)
	}
	return m[1]
}

func (f *formClient) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := f.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		f.csrf = string(m[1])
	}
	return resp, string(b)
}

func (f *formClient) get(t *testing.T, path string, want int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.base+path, nil)
	resp, body := f.do(t, req)
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
	}
	return body
}

func (f *formClient) getLocation(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.base+path, nil)
	resp, _ := f.do(t, req)
	return resp.Header.Get("Location")
}

func (f *formClient) postRaw(t *testing.T, path string, form url.Values, hdr []string, want int) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, body := f.do(t, req)
	if resp.StatusCode != want {
		t.Errorf("POST %s: %d, want %d\n%.800s", path, resp.StatusCode, want, body)
	}
	return resp
}

// post submits a form with the CSRF token of the last page read.
func (f *formClient) post(t *testing.T, path string, form url.Values, want int, hdr ...string) *http.Response {
	t.Helper()
	if f.csrf == "" {
		f.get(t, "/signin", http.StatusOK) // a page with a form, for guests too
	}
	form.Set("csrf", f.csrf)
	return f.postRaw(t, path, form, hdr, want)
}

func (f *formClient) postLocation(t *testing.T, path string, form url.Values) string {
	t.Helper()
	return f.post(t, path, form, http.StatusSeeOther).Header.Get("Location")
}

func (f *formClient) signIn(t *testing.T, email, password string) {
	t.Helper()
	f.get(t, "/signin", http.StatusOK)
	if loc := f.postLocation(t, "/signin", url.Values{"email": {email}, "password": {password}}); loc == "" {
		t.Fatal("sign-in did not redirect")
	}
}
