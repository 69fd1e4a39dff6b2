package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/stores/sqlx"
	"github.com/zeromicro/go-zero/rest/httpx"
)

// getProduct is the bare handler's query, which is the product service's:
// the same columns in the same order, by primary key.
const getProduct = `SELECT id::text, sku, name, description, price_minor, currency, stock, created_at, updated_at
FROM products WHERE id = $1`

// product is the wire shape of a product, field for field and tag for tag
// what bench/cmd/bare sends; the db tags are what go-zero's sqlx maps the
// columns by.
type product struct {
	ID          string    `db:"id" json:"id"`
	SKU         string    `db:"sku" json:"sku"`
	Name        string    `db:"name" json:"name"`
	Description string    `db:"description" json:"description"`
	PriceMinor  int64     `db:"price_minor" json:"price_minor"`
	Currency    string    `db:"currency" json:"currency"`
	Stock       int64     `db:"stock" json:"stock"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// productRequest is the request as goctl would declare it.
type productRequest struct {
	ID string `path:"id"`
}

// errorBody is the bare handler's error shape.
type errorBody struct {
	Error string `json:"error"`
}

// rowQuerier is the part of sqlx.SqlConn the handler uses, so a test can
// stand in for Postgres.
type rowQuerier interface {
	QueryRowCtx(ctx context.Context, v any, query string, args ...any) error
}

// getProductHandler serves GET /api/v1/products/:id with the bare handler's
// statuses: 400 for an id that is not a UUID, 404 for an unknown one, 503
// when the database fails.
func getProductHandler(db rowQuerier) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var req productRequest
		if err := httpx.Parse(r, &req); err != nil || !isUUID(req.ID) {
			writeJSON(ctx, w, http.StatusBadRequest, errorBody{"invalid product id"})
			return
		}
		var p product
		err := db.QueryRowCtx(ctx, &p, getProduct, req.ID)
		switch {
		case errors.Is(err, sqlx.ErrNotFound):
			writeJSON(ctx, w, http.StatusNotFound, errorBody{"product not found"})
			return
		case err != nil:
			logx.WithContext(ctx).Errorf("get product %s: %v", req.ID, err)
			writeJSON(ctx, w, http.StatusServiceUnavailable, errorBody{"database unavailable"})
			return
		}
		// As bare and the service do: the driver hands back local time, the
		// API is UTC.
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		writeJSON(ctx, w, http.StatusOK, p)
	}
}

// newline ends every JSON body.
var newline = []byte{'\n'}

// writeJSON is go-zero's httpx.WriteJsonCtx (encoding/json, the same
// Content-Type as bare's) and a newline: bare and the product service end
// their bodies with one and go-zero's encoder does not, and kitbench wants
// the bytes equal.
func writeJSON(ctx context.Context, w http.ResponseWriter, status int, v any) {
	httpx.WriteJsonCtx(ctx, w, status, v)
	w.Write(newline)
}

// isUUID reports whether s is a UUID in the canonical 8-4-4-4-12 hex form,
// so a malformed id is a 400 rather than a database error (bare's check).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
