package httpx_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/httpx"
)

func TestRouter(t *testing.T) {
	logger, _ := newLogger(t)
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodGet, "/api/v1/products/{id}", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "product %s", req.PathValue("id"))
	}))
	r.Handle(http.MethodDelete, "/api/v1/products/{id}", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	r.Handle("", "/any", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, req.Method)
	}))

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string // for handler answers
		wantKind   string // for problem answers
		wantAllow  string
	}{
		{name: "path value", method: "GET", path: "/api/v1/products/p-42", wantStatus: 200, wantBody: "product p-42"},
		{name: "other method same path", method: "DELETE", path: "/api/v1/products/p-42", wantStatus: 204},
		{name: "any method", method: "PATCH", path: "/any", wantStatus: 200, wantBody: "PATCH"},
		{name: "unknown path", method: "GET", path: "/nope", wantStatus: 404, wantKind: "not_found"},
		{name: "unknown subpath", method: "GET", path: "/api/v1/products/p-42/reviews", wantStatus: 404, wantKind: "not_found"},
		{name: "wrong method", method: "POST", path: "/api/v1/products/p-42", wantStatus: 405, wantKind: "invalid",
			wantAllow: "DELETE, GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := sortedAllow(rec.Header().Get("Allow")); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if tt.wantKind == "" {
				if got := rec.Body.String(); got != tt.wantBody {
					t.Errorf("body = %q, want %q", got, tt.wantBody)
				}
				return
			}
			p := decodeProblem(t, rec)
			if p.Kind != tt.wantKind || p.Status != tt.wantStatus {
				t.Errorf("problem kind %q status %d, want %q %d", p.Kind, p.Status, tt.wantKind, tt.wantStatus)
			}
		})
	}
}

// sortedAllow normalises an Allow header, whose order net/http does not
// promise.
func sortedAllow(allow string) string {
	if allow == "" {
		return ""
	}
	methods := strings.Split(allow, ", ")
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

func TestRecover(t *testing.T) {
	logger, logs := newLogger(t)
	h := httpx.Recover(logger, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("nil map in handler: secret-detail")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, requestWithID(http.MethodGet, "/boom", "panic-req"))

	if got, want := rec.Code, http.StatusInternalServerError; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	p := decodeProblem(t, rec)
	if got, want := p.Kind, "internal"; got != want {
		t.Errorf("kind = %q, want %q", got, want)
	}
	if strings.Contains(rec.Body.String(), "secret-detail") {
		t.Errorf("body %q reveals the panic value", rec.Body)
	}
	for _, want := range []string{"panic serving request", "secret-detail", "request_id=panic-req", "stack="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestRouterRecoversPanics(t *testing.T) {
	logger, _ := newLogger(t)
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodGet, "/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	srv := httptest.NewServer(r)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusInternalServerError; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
}

func TestRecoverAfterResponseStartedAborts(t *testing.T) {
	logger, _ := newLogger(t)
	h := httpx.Recover(logger, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("partial"))
		panic("late")
	}))
	defer func() {
		if got := recover(); got != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", got)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}
