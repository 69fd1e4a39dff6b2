package web

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// MaxQuantity is the most of one product a cart line holds; the schema
// repeats it.
const MaxQuantity = 99

// MaxCartLines is how many products a cart holds: what the order service
// takes in one order is more, but a guest's cart is a cookie.
const MaxCartLines = 20

// Line is one product in a cart.
type Line struct {
	ProductID string `json:"p"`
	Quantity  int    `json:"q"`
}

// Carts keeps the carts of signed-in customers and their checkouts, in the
// web service's own database (migrations.For("web")).
type Carts struct {
	pool *pgxpool.Pool
}

// NewCarts returns the carts in pool.
func NewCarts(pool *pgxpool.Pool) *Carts { return &Carts{pool: pool} }

var dbErrors = postgres.Classifier{NotFound: errs.New(errs.NotFound, "not found"), Unavailable: "the shop's database is unavailable, try again in a moment"}

// dbError classifies a database error; nil stays nil.
func dbError(err error, op string) error {
	if err == nil {
		return nil
	}
	return dbErrors.Classify(err, op)
}

// Lines returns the user's cart, oldest line first.
func (c *Carts) Lines(ctx context.Context, userID string) ([]Line, error) {
	rows, err := c.pool.Query(ctx, `SELECT product_id::text, quantity FROM cart_items WHERE user_id = $1 ORDER BY added_at, product_id`, userID)
	if err != nil {
		return nil, dbError(err, "reading cart")
	}
	lines, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Line, error) {
		var l Line
		return l, row.Scan(&l.ProductID, &l.Quantity)
	})
	return lines, dbError(err, "reading cart")
}

// Add adds quantity of a product to the user's cart, up to MaxQuantity,
// refusing a new line beyond MaxCartLines.
func (c *Carts) Add(ctx context.Context, userID string, lines ...Line) error {
	return postgres.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		for _, l := range lines {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM cart_items WHERE user_id = $1 AND product_id <> $2`, userID, l.ProductID).Scan(&n); err != nil {
				return dbError(err, "adding to cart")
			}
			if n >= MaxCartLines {
				return errs.InvalidFields(errs.FieldError{Field: "product_id", Message: "your cart is full: check out or remove something first"})
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO cart_items (user_id, product_id, quantity) VALUES ($1, $2, LEAST($3::int, $4::int))
				ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = LEAST(cart_items.quantity + EXCLUDED.quantity, $4::int)`,
				userID, l.ProductID, l.Quantity, MaxQuantity); err != nil {
				return dbError(err, "adding to cart")
			}
		}
		return nil
	})
}

// Set sets the quantity of a product in the user's cart; 0 removes it.
func (c *Carts) Set(ctx context.Context, userID string, l Line) error {
	var err error
	if l.Quantity <= 0 {
		_, err = c.pool.Exec(ctx, `DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2`, userID, l.ProductID)
	} else {
		_, err = c.pool.Exec(ctx, `UPDATE cart_items SET quantity = $3 WHERE user_id = $1 AND product_id = $2`, userID, l.ProductID, min(l.Quantity, MaxQuantity))
	}
	return dbError(err, "changing cart")
}

// CheckedOut returns the order an earlier checkout with key placed, "" if
// none.
func (c *Carts) CheckedOut(ctx context.Context, userID, key string) (string, error) {
	var orderID string
	err := c.pool.QueryRow(ctx, `SELECT order_id::text FROM checkouts WHERE user_id = $1 AND idempotency_key = $2`, userID, key).Scan(&orderID)
	if err == pgx.ErrNoRows {
		return "", nil
	}
	return orderID, dbError(err, "reading checkout")
}

// CompleteCheckout records that key placed orderID and empties the cart,
// in one transaction: a second submit of the same form finds the order
// whenever it finds the cart empty.
func (c *Carts) CompleteCheckout(ctx context.Context, userID, key, orderID string) error {
	return postgres.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO checkouts (user_id, idempotency_key, order_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			userID, key, orderID); err != nil {
			return dbError(err, "recording checkout")
		}
		_, err := tx.Exec(ctx, `DELETE FROM cart_items WHERE user_id = $1`, userID)
		return dbError(err, "emptying cart")
	})
}
