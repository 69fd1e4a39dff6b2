package requestid_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kitshop/kitshop/kit/requestid"
)

func ExampleHTTPMiddleware() {
	h := requestid.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("handler sees:", requestid.FromContext(r.Context()))
	}))

	req := httptest.NewRequest(http.MethodGet, "/api/v1/products", nil)
	req.Header.Set(requestid.Header, "order-42")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println("response header:", rec.Header().Get(requestid.Header))

	// Output:
	// handler sees: order-42
	// response header: order-42
}

func ExampleValid() {
	fmt.Println(requestid.Valid(requestid.New()))
	fmt.Println(requestid.Valid("two words"))
	// Output:
	// true
	// false
}
