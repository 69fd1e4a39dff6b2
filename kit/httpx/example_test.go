package httpx_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

func ExampleDecodeJSON() {
	var req struct {
		Name  string `json:"name"`
		Price int64  `json:"price"`
	}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/products", strings.NewReader(`{"name":"mug","price":"12"}`))
	r.Header.Set("Content-Type", "application/json")

	err := httpx.DecodeJSON(r, &req)
	fmt.Println(errs.KindOf(err), errs.Message(err))
	fmt.Println(errs.FieldsOf(err))
	// Output:
	// invalid field "price" must be an integer (offset 26)
	// [{price must be an integer}]
}

func ExampleWriteError() {
	logger := log.NewLogfmtLogger(os.Stdout)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/products/42", nil)

	httpx.WriteError(rec, r, logger, errs.New(errs.NotFound, "product not found"))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body)
	// Output:
	// 404 application/problem+json
	// {"type":"urn:kitshop:problem:not_found","title":"Not Found","status":404,"detail":"product not found","kind":"not_found"}
}

func ExampleRouter() {
	logger := log.NewNopLogger()
	router := httpx.NewRouter(logger)
	router.Handle(http.MethodGet, "/api/v1/products/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "product %s\n", r.PathValue("id"))
	}))

	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/api/v1/products/42", nil),
		httptest.NewRequest(http.MethodPut, "/api/v1/products/42", nil),
	} {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Header().Get("Allow"), " ", rec.Body)
	}
	// Output:
	// 200  product 42
	// 405 GET, HEAD {"type":"urn:kitshop:problem:invalid","title":"Method Not Allowed","status":405,"detail":"method PUT not allowed for /api/v1/products/42","kind":"invalid"}
}
