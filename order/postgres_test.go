package order_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/order"
)

func TestOrderSchemaConstraints(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	id, user := uuid.NewString(), uuid.NewString()
	if _, err := pool.Exec(ctx, `INSERT INTO orders (id, user_id, total_minor, currency, idempotency_key, request_hash)
		VALUES ($1, $2, 200, 'EUR', 'k1', sha256('x'))`, id, user); err != nil {
		t.Fatalf("valid order: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO order_items (order_id, line_no, product_id, sku, name, unit_price_minor, quantity, line_total_minor)
		VALUES ($1, 1, gen_random_uuid(), 'A-1', 'A', 100, 2, 200)`, id); err != nil {
		t.Fatalf("valid item: %v", err)
	}
	for name, stmt := range map[string]string{
		"unknown status":         `UPDATE orders SET status = 'shipped'`,
		"negative total":         `UPDATE orders SET total_minor = -1`,
		"bad currency":           `UPDATE orders SET currency = 'eur'`,
		"key without hash":       `UPDATE orders SET request_hash = NULL`,
		"release owed when fine": `UPDATE orders SET release_pending = true`,
		"key with control char":  `UPDATE orders SET idempotency_key = E'a\nb'`,
		"same key for same user": `INSERT INTO orders (id, user_id, total_minor, currency, idempotency_key, request_hash) VALUES (gen_random_uuid(), '` + user + `', 1, 'EUR', 'k1', sha256('y'))`,
		"zero quantity":          `UPDATE order_items SET quantity = 0, line_total_minor = 0`,
		"quantity over limit":    `UPDATE order_items SET quantity = 1001, line_total_minor = 100100`,
		"wrong line total":       `UPDATE order_items SET line_total_minor = 201`,
		"negative price":         `UPDATE order_items SET unit_price_minor = -100, line_total_minor = -200`,
		"item of no order":       `INSERT INTO order_items (order_id, line_no, product_id, sku, name, unit_price_minor, quantity, line_total_minor) VALUES (gen_random_uuid(), 1, gen_random_uuid(), 'A', 'A', 1, 1, 1)`,
		"same product twice":     `INSERT INTO order_items (order_id, line_no, product_id, sku, name, unit_price_minor, quantity, line_total_minor) SELECT order_id, 2, product_id, sku, name, 1, 1, 1 FROM order_items`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: statement succeeded, want a constraint violation", name)
		}
	}
	// The same key for another user, and orders without keys, are fine.
	for range 2 {
		if _, err := pool.Exec(ctx, `INSERT INTO orders (id, user_id, total_minor, currency) VALUES (gen_random_uuid(), $1, 1, 'EUR')`, user); err != nil {
			t.Errorf("order without key: %v", err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO orders (id, user_id, total_minor, currency, idempotency_key, request_hash)
		VALUES (gen_random_uuid(), gen_random_uuid(), 1, 'EUR', 'k1', sha256('x'))`); err != nil {
		t.Errorf("same key for another user: %v", err)
	}
}

func TestTransitionIsConditional(t *testing.T) {
	repo := order.NewPostgres(newPool(t))
	ctx := context.Background()
	o := order.Order{ID: uuid.NewString(), UserID: uuid.NewString(), Currency: "EUR", TotalMinor: 100,
		Items: []order.Item{{ProductID: uuid.NewString(), SKU: "A-1", Name: "A", UnitPriceMinor: 100, Quantity: 1, LineTotalMinor: 100}}}
	if _, err := repo.CreatePending(ctx, o, order.IdempotencyKey{Key: "k", RequestHash: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreatePending(ctx, order.Order{ID: uuid.NewString(), UserID: o.UserID, Currency: "EUR", Items: o.Items, TotalMinor: 100},
		order.IdempotencyKey{Key: "k", RequestHash: make([]byte, 32)}); !errs.Is(err, errs.Conflict) {
		t.Errorf("second order with the key: %v, want Conflict", err)
	}

	steps := []struct {
		from   []order.Status
		t      order.Transition
		wantOK bool
		want   order.Status
	}{
		{[]order.Status{order.StatusPending}, order.Transition{To: order.StatusConfirmed}, true, order.StatusConfirmed},
		// The recovery loop, late: the order is no longer pending.
		{[]order.Status{order.StatusPending}, order.Transition{To: order.StatusFailed, ReleasePending: true, DropIdempotencyKey: true}, false, order.StatusConfirmed},
		{[]order.Status{order.StatusPending, order.StatusConfirmed}, order.Transition{To: order.StatusCancelled, ReleasePending: true, CancelReason: order.CancelledByCustomer}, true, order.StatusCancelled},
		{[]order.Status{order.StatusPending, order.StatusConfirmed}, order.Transition{To: order.StatusCancelled, ReleasePending: true, CancelReason: order.CancelledByCustomer}, false, order.StatusCancelled},
	}
	for i, s := range steps {
		got, ok, err := repo.Transition(ctx, o.ID, s.from, s.t)
		if err != nil || ok != s.wantOK || got.Status != s.want || len(got.Items) != 1 {
			t.Errorf("step %d: %s, %v, %v; want %s, %v", i, got.Status, ok, err, s.want, s.wantOK)
		}
	}
	// The failed transition kept the key; the cancel owes a release.
	if _, hash, err := repo.ByIdempotencyKey(ctx, o.UserID, "k"); err != nil || len(hash) != 32 {
		t.Errorf("key lookup: %v", err)
	}
	owed, err := repo.ReleasePending(ctx, 10)
	if err != nil || len(owed) != 1 || owed[0] != o.ID {
		t.Errorf("owed releases %v, %v; want [%s]", owed, err, o.ID)
	}
	if err := repo.ClearReleasePending(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if owed, _ := repo.ReleasePending(ctx, 10); len(owed) != 0 {
		t.Errorf("owed after clearing: %v", owed)
	}
	if _, _, err := repo.Transition(ctx, uuid.NewString(), []order.Status{order.StatusPending}, order.Transition{To: order.StatusConfirmed}); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown order: %v, want NotFound", err)
	}
	if pending, err := repo.StalePending(ctx, time.Now().Add(time.Hour), 10); err != nil || len(pending) != 0 {
		t.Errorf("pending %v, %v; want none", pending, err)
	}
}
