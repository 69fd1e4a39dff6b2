package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

func Example() {
	dbUp := false
	h := health.New(health.Check{Name: "postgres", Func: func(context.Context) error {
		if !dbUp {
			return errs.New(errs.Unavailable, "database unreachable")
		}
		return nil
	}})
	probe := func() {
		rec := httptest.NewRecorder()
		h.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		fmt.Print(rec.Code, " ", rec.Body)
	}

	probe() // starting: not ready until the server says so
	h.SetReady(true)
	probe() // ready, but the database is down
	dbUp = true
	probe()
	// Output:
	// 503 {"status":"not_ready"}
	// 503 {"status":"not_ready","checks":{"postgres":"database unreachable"}}
	// 200 {"status":"ready","checks":{"postgres":"ok"}}
}
