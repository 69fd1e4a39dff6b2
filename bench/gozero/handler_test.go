package main

// An internal test: a main package cannot be imported by an external one.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/stores/sqlx"
	"github.com/zeromicro/go-zero/rest/router"
)

// fakeDB answers QueryRowCtx with a product or an error, as sqlx would.
type fakeDB struct {
	p   product
	err error
}

func (f fakeDB) QueryRowCtx(_ context.Context, v any, _ string, _ ...any) error {
	if f.err != nil {
		return f.err
	}
	*v.(*product) = f.p
	return nil
}

// TestGetProduct checks the bodies byte for byte: bare's JSON (UTC times,
// its field order, a closing newline) and its error shape.
func TestGetProduct(t *testing.T) {
	const id = "0d4f6bd1-6e57-4f3c-9a53-1a2b3c4d5e6f"
	cet := time.FixedZone("CET", 3600)
	p := product{
		ID: id, SKU: "BENCH-HOT-1", Name: "hot", Description: "d", PriceMinor: 1999, Currency: "EUR", Stock: 1e9,
		CreatedAt: time.Date(2025, 1, 2, 4, 4, 5, 123456000, cet),
		UpdatedAt: time.Date(2025, 1, 2, 4, 4, 6, 0, cet),
	}
	tests := []struct {
		name       string
		path       string
		db         fakeDB
		wantStatus int
		wantBody   string
	}{
		{"found", "/api/v1/products/" + id, fakeDB{p: p}, http.StatusOK,
			`{"id":"` + id + `","sku":"BENCH-HOT-1","name":"hot","description":"d","price_minor":1999,"currency":"EUR","stock":1000000000,` +
				`"created_at":"2025-01-02T03:04:05.123456Z","updated_at":"2025-01-02T03:04:06Z"}` + "\n"},
		{"unknown", "/api/v1/products/" + id, fakeDB{err: sqlx.ErrNotFound}, http.StatusNotFound, `{"error":"product not found"}` + "\n"},
		{"not a uuid", "/api/v1/products/42", fakeDB{p: p}, http.StatusBadRequest, `{"error":"invalid product id"}` + "\n"},
		{"database down", "/api/v1/products/" + id, fakeDB{err: errors.New("connection refused")}, http.StatusServiceUnavailable, `{"error":"database unavailable"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := router.NewRouter()
			if err := r.Handle(http.MethodGet, "/api/v1/products/:id", getProductHandler(tt.db)); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body\n got %q\nwant %q", got, tt.wantBody)
			}
			if got, want := w.Header().Get("Content-Type"), "application/json; charset=utf-8"; got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
		})
	}
}
