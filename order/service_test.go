package order_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/order"
)

func TestValidateNew(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	lines := func(ls ...order.LineRequest) order.NewOrder { return order.NewOrder{Items: ls} }
	many := make([]order.LineRequest, order.MaxLines+1)
	for i := range many {
		many[i] = order.LineRequest{ProductID: uuid.NewString(), Quantity: 1}
	}
	tests := []struct {
		name       string
		in         order.NewOrder
		wantFields []string // nil: valid
		want       []order.LineRequest
	}{
		{name: "one line", in: lines(order.LineRequest{ProductID: a, Quantity: 2}), want: []order.LineRequest{{ProductID: a, Quantity: 2}}},
		{name: "duplicates merged in first position", in: lines(
			order.LineRequest{ProductID: a, Quantity: 2}, order.LineRequest{ProductID: b, Quantity: 1}, order.LineRequest{ProductID: strings.ToUpper(a), Quantity: 3}),
			want: []order.LineRequest{{ProductID: a, Quantity: 5}, {ProductID: b, Quantity: 1}}},
		{name: "max quantity", in: lines(order.LineRequest{ProductID: a, Quantity: 1000}), want: []order.LineRequest{{ProductID: a, Quantity: 1000}}},
		{name: "no lines", in: lines(), wantFields: []string{"items"}},
		{name: "too many lines", in: order.NewOrder{Items: many}, wantFields: []string{"items"}},
		{name: "malformed product id", in: lines(order.LineRequest{ProductID: "p1", Quantity: 1}), wantFields: []string{"items[0].product_id"}},
		{name: "zero quantity", in: lines(order.LineRequest{ProductID: a, Quantity: 1}, order.LineRequest{ProductID: b, Quantity: 0}), wantFields: []string{"items[1].quantity"}},
		{name: "negative quantity", in: lines(order.LineRequest{ProductID: a, Quantity: -3}), wantFields: []string{"items[0].quantity"}},
		{name: "quantity over limit", in: lines(order.LineRequest{ProductID: a, Quantity: 1001}), wantFields: []string{"items[0].quantity"}},
		{name: "merged over limit", in: lines(order.LineRequest{ProductID: a, Quantity: 600}, order.LineRequest{ProductID: a, Quantity: 600}), wantFields: []string{"items[1].quantity"}},
		{name: "several bad lines", in: lines(order.LineRequest{ProductID: "x", Quantity: 1}, order.LineRequest{ProductID: a, Quantity: 0}), wantFields: []string{"items[0].product_id", "items[1].quantity"}},
		{name: "key with control character", in: order.NewOrder{Items: []order.LineRequest{{ProductID: a, Quantity: 1}}, IdempotencyKey: "k\n1"}, wantFields: []string{"idempotency_key"}},
		{name: "key too long", in: order.NewOrder{Items: []order.LineRequest{{ProductID: a, Quantity: 1}}, IdempotencyKey: strings.Repeat("k", 256)}, wantFields: []string{"idempotency_key"}},
		{name: "key not ASCII", in: order.NewOrder{Items: []order.LineRequest{{ProductID: a, Quantity: 1}}, IdempotencyKey: "clé"}, wantFields: []string{"idempotency_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.ValidateNew(tt.in)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("ValidateNew: %v", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("lines = %v, want %v", got, tt.want)
				}
				return
			}
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error %v, want Invalid", err)
			}
			if names := fieldNames(err); !slices.Equal(names, tt.wantFields) {
				t.Errorf("fields %v, want %v", names, tt.wantFields)
			}
		})
	}
}

func TestRequestHashIgnoresSpelling(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	l1, _ := order.ValidateNew(order.NewOrder{Items: []order.LineRequest{{ProductID: a, Quantity: 1}, {ProductID: a, Quantity: 1}, {ProductID: b, Quantity: 1}}})
	l2, _ := order.ValidateNew(order.NewOrder{Items: []order.LineRequest{{ProductID: strings.ToUpper(a), Quantity: 2}, {ProductID: b, Quantity: 1}}})
	l3, _ := order.ValidateNew(order.NewOrder{Items: []order.LineRequest{{ProductID: a, Quantity: 2}, {ProductID: b, Quantity: 2}}})
	if string(order.RequestHash(l1, "")) != string(order.RequestHash(l2, "")) {
		t.Error("the same order spelt two ways hashes differently")
	}
	if string(order.RequestHash(l1, "")) == string(order.RequestHash(l3, "")) {
		t.Error("different orders hash the same")
	}
}

// fixture is the real service on a fresh database with a fake catalog.
type fixture struct {
	svc     order.Service
	repo    *order.Postgres
	catalog *fakeCatalog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	repo := order.NewPostgres(newPool(t))
	catalog := newFakeCatalog()
	return &fixture{svc: order.NewService(repo, catalog), repo: repo, catalog: catalog}
}

func (f *fixture) create(t *testing.T, ctx context.Context, ls ...order.LineRequest) order.Order {
	t.Helper()
	c, err := f.svc.Create(ctx, order.NewOrder{Items: ls})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c.Order
}

func TestCreatePricesFromCatalog(t *testing.T) {
	f := newFixture(t)
	mug := f.catalog.product("MUG-1", 1250, 10, "EUR")
	tea := f.catalog.product("TEA-1", 499, 5, "EUR")
	user := uuid.NewString()

	o := f.create(t, as(user), line(tea, 2), line(mug, 3))
	if o.Status != order.StatusConfirmed || o.UserID != user || o.Currency != "EUR" {
		t.Errorf("order %+v, want confirmed EUR order of %s", o, user)
	}
	want := []order.Item{
		{ProductID: tea.ID, SKU: "TEA-1", Name: "Product TEA-1", UnitPriceMinor: 499, Quantity: 2, LineTotalMinor: 998},
		{ProductID: mug.ID, SKU: "MUG-1", Name: "Product MUG-1", UnitPriceMinor: 1250, Quantity: 3, LineTotalMinor: 3750},
	}
	if !slices.Equal(o.Items, want) {
		t.Errorf("items %+v, want %+v (client order, catalog prices)", o.Items, want)
	}
	if o.TotalMinor != 998+3750 {
		t.Errorf("total %d, want %d", o.TotalMinor, 998+3750)
	}
	if got := f.catalog.stock(mug.ID); got != 7 {
		t.Errorf("mug stock %d, want 7", got)
	}
	got, err := f.svc.Get(as(user), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != order.StatusConfirmed || !slices.Equal(got.Items, want) || !got.CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("Get = %+v, want %+v", got, o)
	}
}

func TestCreateRejectedReservesNothing(t *testing.T) {
	f := newFixture(t)
	plenty := f.catalog.product("A-1", 100, 50, "EUR")
	scarce := f.catalog.product("B-1", 100, 1, "EUR")
	user := uuid.NewString()

	_, err := f.svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(plenty, 5), line(scarce, 2)}})
	if !errs.Is(err, errs.Conflict) {
		t.Fatalf("error %v, want Conflict", err)
	}
	// The field names the client's line, whatever order the catalog saw.
	if names := fieldNames(err); !slices.Equal(names, []string{"items[1].quantity"}) {
		t.Errorf("fields %v, want [items[1].quantity]", names)
	}
	if msg := errs.FieldsOf(err)[0].Message; msg != "only 1 left" {
		t.Errorf("message %q, want \"only 1 left\"", msg)
	}
	if got := f.catalog.stock(plenty.ID); got != 50 {
		t.Errorf("stock of the available product %d, want 50 (all or nothing)", got)
	}
	page, err := f.svc.List(as(user), order.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 1 || page.Orders[0].Status != order.StatusRejected {
		t.Errorf("orders %+v, want one rejected order", page.Orders)
	}
}

func TestCreateRejectsBadCatalogInput(t *testing.T) {
	f := newFixture(t)
	eur := f.catalog.product("EUR-1", 100, 5, "EUR")
	usd := f.catalog.product("USD-1", 100, 5, "USD")
	user := uuid.NewString()
	tests := []struct {
		name       string
		lines      []order.LineRequest
		wantFields []string
	}{
		{"unknown product", []order.LineRequest{line(eur, 1), {ProductID: uuid.NewString(), Quantity: 1}}, []string{"items[1].product_id"}},
		{"mixed currencies", []order.LineRequest{line(eur, 1), line(usd, 1)}, []string{"items[1].product_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Create(as(user), order.NewOrder{Items: tt.lines})
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error %v, want Invalid", err)
			}
			if names := fieldNames(err); !slices.Equal(names, tt.wantFields) {
				t.Errorf("fields %v, want %v", names, tt.wantFields)
			}
		})
	}
	page, err := f.svc.List(as(user), order.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 0 {
		t.Errorf("%d orders stored, want none", len(page.Orders))
	}
}

func TestCreateNeedsCaller(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 5, "EUR")
	_, err := f.svc.Create(context.Background(), order.NewOrder{Items: []order.LineRequest{line(p, 1)}})
	if !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("error %v, want Unauthenticated", err)
	}
}

func TestCreateCatalogDownLeavesNothing(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 5, "EUR")
	user := uuid.NewString()
	f.catalog.setFail(errCatalogDown)

	_, err := f.svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 1)}, IdempotencyKey: "k1"})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("error %v, want Unavailable", err)
	}
	page, err := f.svc.List(as(user), order.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 0 {
		t.Errorf("orders %+v, want none: pricing failed before anything was written", page.Orders)
	}

	// Back up: the same key goes through.
	f.catalog.setFail(nil)
	c, err := f.svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 1)}, IdempotencyKey: "k1"})
	if err != nil || c.Replayed || c.Order.Status != order.StatusConfirmed {
		t.Errorf("retry = %+v, %v; want a new confirmed order", c, err)
	}
}

// lossyCatalog reserves, then reports the catalog unavailable, as when the
// response to a successful reservation is lost.
type lossyCatalog struct {
	*fakeCatalog
}

func (c lossyCatalog) Reserve(ctx context.Context, orderID string, items []order.StockItem) error {
	if err := c.fakeCatalog.Reserve(ctx, orderID, items); err != nil {
		return err
	}
	return errs.New(errs.Unavailable, "request timed out")
}

func TestCreateReserveFailureReleasesAndForgetsKey(t *testing.T) {
	repo := order.NewPostgres(newPool(t))
	fake := newFakeCatalog()
	p := fake.product("A-1", 100, 5, "EUR")
	svc := order.NewService(repo, lossyCatalog{fake})
	user := uuid.NewString()

	_, err := svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 2)}, IdempotencyKey: "k1"})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("error %v, want Unavailable", err)
	}
	if got := fake.stock(p.ID); got != 5 {
		t.Errorf("stock %d, want 5: the reservation whose answer was lost is released", got)
	}
	page, err := svc.List(as(user), order.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 1 || page.Orders[0].Status != order.StatusFailed {
		t.Fatalf("orders %+v, want one failed order", page.Orders)
	}
	if owed, err := repo.ReleasePending(context.Background(), 10); err != nil || len(owed) != 0 {
		t.Errorf("owed releases %v, %v; want none (released at once)", owed, err)
	}

	// The key was given up: a retry is a new attempt, not a replay.
	svc = order.NewService(repo, fake)
	c, err := svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 2)}, IdempotencyKey: "k1"})
	if err != nil || c.Replayed || c.Order.Status != order.StatusConfirmed || c.Order.ID == page.Orders[0].ID {
		t.Errorf("retry = %+v, %v; want a new confirmed order", c, err)
	}
	if got := fake.stock(p.ID); got != 3 {
		t.Errorf("stock %d, want 3", got)
	}
}

func TestCreateIdempotency(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 10, "EUR")
	q := f.catalog.product("B-1", 100, 1, "EUR")
	user, other := uuid.NewString(), uuid.NewString()
	req := order.NewOrder{Items: []order.LineRequest{line(p, 2)}, IdempotencyKey: "order-2024-0001"}

	first, err := f.svc.Create(as(user), req)
	if err != nil || first.Replayed {
		t.Fatalf("first = %+v, %v", first, err)
	}
	tests := []struct {
		name     string
		ctx      context.Context
		req      order.NewOrder
		wantKind errs.Kind // 0 with wantSame: replay
		wantSame bool
	}{
		{name: "same key and body", ctx: as(user), req: req, wantSame: true},
		{name: "same key, same lines spelt differently", ctx: as(user),
			req: order.NewOrder{Items: []order.LineRequest{line(p, 1), line(p, 1)}, IdempotencyKey: req.IdempotencyKey}, wantSame: true},
		{name: "same key, other body", ctx: as(user),
			req: order.NewOrder{Items: []order.LineRequest{line(p, 3)}, IdempotencyKey: req.IdempotencyKey}, wantKind: errs.Conflict},
		{name: "same key, other user", ctx: as(other), req: req},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.svc.Create(tt.ctx, tt.req)
			switch {
			case tt.wantSame:
				if err != nil || !c.Replayed || c.Order.ID != first.Order.ID || c.Order.Status != order.StatusConfirmed {
					t.Errorf("got %+v, %v; want a replay of %s", c, err, first.Order.ID)
				}
			case tt.wantKind != 0:
				if !errs.Is(err, tt.wantKind) {
					t.Errorf("error %v, want %v", err, tt.wantKind)
				}
			default:
				if err != nil || c.Replayed || c.Order.ID == first.Order.ID {
					t.Errorf("got %+v, %v; want a new order", c, err)
				}
			}
		})
	}
	if got := f.catalog.stock(p.ID); got != 6 {
		t.Errorf("stock %d, want 6: two orders of 2, replays reserve nothing", got)
	}

	// A rejected request replays as the same rejection.
	rej := order.NewOrder{Items: []order.LineRequest{line(q, 5)}, IdempotencyKey: "too-many"}
	_, err1 := f.svc.Create(as(user), rej)
	_, err2 := f.svc.Create(as(user), rej)
	if !errs.Is(err1, errs.Conflict) || !errs.Is(err2, errs.Conflict) ||
		!slices.Equal(errs.FieldsOf(err1), errs.FieldsOf(err2)) || len(errs.FieldsOf(err2)) != 1 {
		t.Errorf("rejection %v replayed as %v, want the same Conflict", err1, err2)
	}
	if n := f.catalog.count("reserve"); n != 3 {
		t.Errorf("%d reservations asked for, want 3 (replays are answered locally)", n)
	}
}
