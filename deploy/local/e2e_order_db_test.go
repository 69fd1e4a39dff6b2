package local_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	local "github.com/kitshop/kitshop/deploy/local"
)

// dbOrder is an order as the order service's database holds it.
type dbOrder struct {
	status         string
	releasePending bool
	userID         string
	items          map[string]int64 // product id -> quantity
}

// dbReservation is a reservation as the catalog's database holds it.
type dbReservation struct {
	status string
	items  map[string]int64
}

// holdsStock reports whether an order in status keeps its stock reserved:
// confirmed, and paid once the payment service has charged it.
func holdsStock(status string) bool { return status == "confirmed" || status == "paid" }

// queryDB runs fn on a connection to one of the stack's databases.
func queryDB(t *testing.T, stack *local.Stack, db string, fn func(ctx context.Context, conn *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, stack.Postgres().URL(db))
	if err != nil {
		t.Fatalf("connect to the %s database: %v", db, err)
	}
	defer conn.Close(context.Background())
	if err := fn(ctx, conn); err != nil {
		t.Fatalf("query the %s database: %v", db, err)
	}
}

// dbOrders reads every order of the order database.
func dbOrders(t *testing.T, stack *local.Stack) map[string]*dbOrder {
	t.Helper()
	orders := map[string]*dbOrder{}
	queryDB(t, stack, "order", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
			SELECT o.id::text, o.status, o.release_pending, o.user_id::text, i.product_id::text, i.quantity
			FROM orders o JOIN order_items i ON i.order_id = o.id`)
		if err != nil {
			return err
		}
		var (
			id, status, user, productID string
			releasePending              bool
			quantity                    int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &status, &releasePending, &user, &productID, &quantity}, func() error {
			o := orders[id]
			if o == nil {
				o = &dbOrder{status: status, releasePending: releasePending, userID: user, items: map[string]int64{}}
				orders[id] = o
			}
			o.items[productID] = quantity
			return nil
		})
		return err
	})
	return orders
}

// dbReservations reads every reservation of the product database.
func dbReservations(t *testing.T, stack *local.Stack) map[string]*dbReservation {
	t.Helper()
	res := map[string]*dbReservation{}
	queryDB(t, stack, "product", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
			SELECT r.order_id::text, r.status, i.product_id::text, i.quantity
			FROM stock_reservations r LEFT JOIN stock_reservation_items i USING (order_id)`)
		if err != nil {
			return err
		}
		var (
			id, status string
			productID  *string
			quantity   *int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &status, &productID, &quantity}, func() error {
			r := res[id]
			if r == nil {
				r = &dbReservation{status: status, items: map[string]int64{}}
				res[id] = r
			}
			if productID != nil && quantity != nil {
				r.items[*productID] = *quantity
			}
			return nil
		})
		return err
	})
	return res
}

// reservedQuantities returns the units held by live reservations, per
// product.
func reservedQuantities(t *testing.T, stack *local.Stack) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range dbReservations(t, stack) {
		if r.status == "reserved" {
			for p, q := range r.items {
				out[p] += q
			}
		}
	}
	return out
}

// dbStock returns the stock of the given products, read from the product
// database.
func dbStock(t *testing.T, stack *local.Stack, productIDs []string) map[string]int64 {
	t.Helper()
	stock := map[string]int64{}
	queryDB(t, stack, "product", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT id::text, stock FROM products WHERE id = ANY ($1::uuid[])`, productIDs)
		if err != nil {
			return err
		}
		var (
			id string
			n  int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			stock[id] = n
			return nil
		})
		return err
	})
	return stock
}

// unsettled counts orders the saga has not finished: pending ones, and
// failed or cancelled ones whose release is still owed.
func unsettled(orders map[string]*dbOrder) (pending, releaseOwed int) {
	for _, o := range orders {
		if o.status == "pending" {
			pending++
		}
		if o.releasePending {
			releaseOwed++
		}
	}
	return pending, releaseOwed
}

// awaitSettled waits until the recovery loop has finished every order and
// returns how long that took.
func awaitSettled(t *testing.T, stack *local.Stack) time.Duration {
	t.Helper()
	began := time.Now()
	deadline := began.Add(settleTimeout)
	for {
		pending, owed := unsettled(dbOrders(t, stack))
		if pending == 0 && owed == 0 {
			return time.Since(began)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d orders still pending and %d releases owed; the recovery loop did not finish them", settleTimeout, pending, owed)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkConsistency compares the two databases after the sagas have
// settled: every confirmed order holds a live reservation of exactly its
// lines; no other order does (rejected, failed and cancelled ones have none
// or a released one); no live reservation lacks a confirmed order; and for
// every product the order tests created, stock plus reserved units is the
// stock it was created with.
func checkConsistency(t *testing.T, e *orderEnv) {
	t.Helper()
	orders := dbOrders(t, e.stack)
	res := dbReservations(t, e.stack)
	byStatus := map[string]int{}
	for id, o := range orders {
		byStatus[o.status]++
		r := res[id]
		switch {
		case o.status == "pending":
			t.Errorf("order %s is still pending", id)
		case o.releasePending:
			t.Errorf("order %s (%s) still owes a release", id, o.status)
		case holdsStock(o.status) && (r == nil || r.status != "reserved"):
			t.Errorf("%s order %s has no live reservation (%+v)", o.status, id, r)
		case holdsStock(o.status) && !maps.Equal(r.items, o.items):
			t.Errorf("%s order %s has lines %v but reserves %v", o.status, id, o.items, r.items)
		case !holdsStock(o.status) && r != nil && r.status == "reserved":
			t.Errorf("%s order %s still holds a reservation of %v", o.status, id, r.items)
		}
	}
	live := 0
	for id, r := range res {
		if r.status != "reserved" {
			continue
		}
		live++
		if o := orders[id]; o == nil || !holdsStock(o.status) {
			t.Errorf("reservation %s (%v) belongs to no confirmed or paid order (%+v)", id, r.items, o)
		}
	}

	e.mu.Lock()
	initial := maps.Clone(e.initial)
	e.mu.Unlock()
	reserved := map[string]int64{}
	for _, r := range res {
		if r.status == "reserved" {
			for p, q := range r.items {
				reserved[p] += q
			}
		}
	}
	stock := dbStock(t, e.stack, slices.Collect(maps.Keys(initial)))
	for id, want := range initial {
		got, ok := stock[id]
		switch {
		case !ok:
			t.Errorf("product %s is gone", id)
		case got < 0:
			t.Errorf("product %s has negative stock %d", id, got)
		case got+reserved[id] != want:
			t.Errorf("product %s: stock %d + reserved %d = %d, want its initial %d", id, got, reserved[id], got+reserved[id], want)
		}
	}
	t.Logf("consistency: %d orders %v, %d reservations (%d live), stock of %d products adds up",
		len(orders), byStatus, len(res), live, len(initial))
}

// awaitOrdersRouted waits until an authenticated list of orders goes
// through the gateway to an order instance again, and returns how long that
// took.
func awaitOrdersRouted(t *testing.T, e *orderEnv, token string) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		r, err := e.c.send(http.MethodGet, "/api/v1/orders?limit=1", bearer(token), nil)
		if err == nil && r.Status == http.StatusOK {
			return time.Since(began)
		}
		if time.Since(began) > recoverTimeout {
			t.Fatalf("no order list through the gateway within %s (last: %v, %d %s)", recoverTimeout, err, r.Status, truncate(r.Body))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
