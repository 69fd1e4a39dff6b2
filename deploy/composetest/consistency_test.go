//go:build composetest

package composetest_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkConsistency waits for the order service's recovery loop to settle
// every order (none pending, no release owed), then checks the order
// database against the product database: a confirmed or paid order, and
// only such an order, holds a live reservation of exactly its lines, and
// the stock of the products made for the test (SKU prefix) went down by
// exactly what is reserved.
func checkConsistency(t *testing.T, s *stack, prefix string) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		open := s.psql("order-db", "kitshop_order", "order",
			`SELECT count(*) FROM orders WHERE status = 'pending' OR release_pending`)
		if open == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s orders still pending or owing a release after 3 minutes", open)
			break
		}
		time.Sleep(2 * time.Second)
	}

	type order struct{ status, lines string }
	orders := map[string]order{}
	byStatus := map[string]int{}
	for _, row := range rows(s.psql("order-db", "kitshop_order", "order", `
		SELECT o.id, o.status, string_agg(i.product_id || ':' || i.quantity, ',' ORDER BY i.product_id)
		FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id, o.status`)) {
		orders[row[0]] = order{row[1], row[2]}
		byStatus[row[1]]++
	}
	reservations := map[string]string{} // live ones: order id -> lines
	for _, row := range rows(s.psql("product-db", "kitshop_product", "product", `
		SELECT r.order_id, string_agg(i.product_id || ':' || i.quantity, ',' ORDER BY i.product_id)
		FROM stock_reservations r JOIN stock_reservation_items i USING (order_id)
		WHERE r.status = 'reserved' GROUP BY r.order_id`)) {
		reservations[row[0]] = row[1]
	}
	// A paid order keeps its stock as a confirmed one does.
	holds := func(status string) bool { return status == "confirmed" || status == "paid" }
	for id, o := range orders {
		r, live := reservations[id]
		switch {
		case holds(o.status) && !live:
			t.Errorf("%s order %s has no live reservation", o.status, id)
		case holds(o.status) && r != o.lines:
			t.Errorf("%s order %s has lines %s but reserves %s", o.status, id, o.lines, r)
		case !holds(o.status) && live:
			t.Errorf("%s order %s still holds a reservation of %s", o.status, id, r)
		}
	}
	for id, r := range reservations {
		if o, ok := orders[id]; !ok || !holds(o.status) {
			t.Errorf("reservation %s (%s) belongs to no confirmed or paid order (%+v)", id, r, o)
		}
	}

	reserved := map[string]int{}
	for _, r := range reservations {
		for _, line := range strings.Split(r, ",") {
			p, q, _ := strings.Cut(line, ":")
			n, _ := strconv.Atoi(q)
			reserved[p] += n
		}
	}
	for _, row := range rows(s.psql("product-db", "kitshop_product", "product",
		`SELECT id, stock FROM products WHERE sku LIKE '`+prefix+`%'`)) {
		stock, _ := strconv.Atoi(row[1])
		if got := 100000 - stock; got != reserved[row[0]] {
			t.Errorf("product %s: stock went down by %d, reservations hold %d", row[0], got, reserved[row[0]])
		}
	}
	t.Logf("orders by status: %v; %d live reservations; databases consistent: %v", byStatus, len(reservations), !t.Failed())
}

// psql runs one query in the service's database container and returns its
// unaligned output ("|" between fields).
func (s *stack) psql(svc, user, db, query string) string {
	s.t.Helper()
	return strings.TrimSpace(s.docker("exec", s.container(svc), "psql", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db, "-AtF", "|", "-c", query))
}

func rows(out string) [][]string {
	var r [][]string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			r = append(r, strings.Split(line, "|"))
		}
	}
	return r
}
