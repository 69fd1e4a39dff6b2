package product_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/outbox/outboxtest"
	"github.com/kitshop/kitshop/product"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

const (
	created = productv1.ProductChanged_CHANGE_CREATED
	updated = productv1.ProductChanged_CHANGE_UPDATED
	deleted = productv1.ProductChanged_CHANGE_DELETED
	stocked = productv1.ProductChanged_CHANGE_STOCK
)

// outboxReader reads the product.changed events of a database's outbox, each
// once, in the order they were added.
type outboxReader struct{ outboxtest.Reader }

func newOutboxReader(pool *pgxpool.Pool) *outboxReader {
	return &outboxReader{outboxtest.Reader{Pool: pool}}
}

// next returns the events added since the last call, after checking what
// every event must carry: the envelope's source, type and subject, and the
// outbox row's aggregate and subject.
func (r *outboxReader) next(t *testing.T) []*productv1.ProductChanged {
	t.Helper()
	var out []*productv1.ProductChanged
	for _, e := range r.Next(t) {
		pc, ok := e.Data.(*productv1.ProductChanged)
		if !ok {
			t.Fatalf("outbox event data is %T, want *productv1.ProductChanged", e.Data)
		}
		wantAgg := "product/" + pc.GetProductId()
		if e.Source != product.Source || e.Type != productv1.SubjectChanged || e.Message.Subject != wantAgg ||
			e.Aggregate != wantAgg || e.Subject != productv1.SubjectChanged {
			t.Errorf("event %s: source %q, type %q, subject %q, outbox aggregate %q and subject %q; want %q, %q, %q, %q, %q",
				e.ID, e.Source, e.Type, e.Message.Subject, e.Aggregate, e.Subject,
				product.Source, productv1.SubjectChanged, wantAgg, wantAgg, productv1.SubjectChanged)
		}
		out = append(out, pc)
	}
	return out
}

// wantChange checks that got is the one event change of p (nil product
// for a deletion).
func wantChange(t *testing.T, got []*productv1.ProductChanged, change productv1.ProductChanged_Change, p product.Product) {
	t.Helper()
	want := &productv1.ProductChanged{ProductId: p.ID, Change: change}
	if change != deleted {
		want.Product = product.ToProto(p)
	}
	if len(got) != 1 || !proto.Equal(got[0], want) {
		t.Errorf("events = %v, want one: %v", got, want)
	}
}

// TestEventsOfEachChange makes every kind of change to one product and
// checks that each adds exactly one event, or none for a change that
// changes nothing, with the product as the change left it.
func TestEventsOfEachChange(t *testing.T) {
	svc, repo, pool := newPostgresService(t)
	stock := product.NewStock(repo)
	ctx := context.Background()
	out := newOutboxReader(pool)
	var (
		p     product.Product // as the last step left it
		order = uuid.NewString()
	)
	current := func() (product.Product, error) { return svc.Get(ctx, p.ID) }
	steps := []struct {
		name   string
		change func() (product.Product, error)
		want   productv1.ProductChanged_Change // UNSPECIFIED: no event
	}{
		{"create", func() (product.Product, error) {
			return svc.Create(ctx, product.NewProduct{SKU: "EV-1", Name: "Mug", PriceMinor: 900, Currency: "EUR", Stock: 10})
		}, created},
		{"edit", func() (product.Product, error) {
			return svc.Update(ctx, p.ID, product.Patch{Name: ptr("Big mug"), PriceMinor: ptr(int64(1200))})
		}, updated},
		{"edit and stock", func() (product.Product, error) {
			return svc.Update(ctx, p.ID, product.Patch{Description: ptr("Stoneware"), Stock: ptr(int64(8))})
		}, updated},
		{"stock", func() (product.Product, error) {
			return svc.Update(ctx, p.ID, product.Patch{Stock: ptr(int64(5))})
		}, stocked},
		{"stock and an unchanged name", func() (product.Product, error) {
			return svc.Update(ctx, p.ID, product.Patch{Name: ptr("Big mug"), Stock: ptr(int64(6))})
		}, stocked},
		{"redundant patch", func() (product.Product, error) {
			return svc.Update(ctx, p.ID, product.Patch{Name: ptr("Big mug"), Stock: ptr(int64(6))})
		}, productv1.ProductChanged_CHANGE_UNSPECIFIED},
		{"reservation", func() (product.Product, error) {
			if err := stock.Reserve(ctx, order, items(p.ID, 2)); err != nil {
				return product.Product{}, err
			}
			return current()
		}, stocked},
		{"retried reservation", func() (product.Product, error) {
			if err := stock.Reserve(ctx, order, items(p.ID, 2)); err != nil {
				return product.Product{}, err
			}
			return current()
		}, productv1.ProductChanged_CHANGE_UNSPECIFIED},
		{"release", func() (product.Product, error) {
			if err := stock.Release(ctx, order); err != nil {
				return product.Product{}, err
			}
			return current()
		}, stocked},
		{"second release", func() (product.Product, error) {
			if err := stock.Release(ctx, order); err != nil {
				return product.Product{}, err
			}
			return current()
		}, productv1.ProductChanged_CHANGE_UNSPECIFIED},
		{"delete", func() (product.Product, error) {
			return product.Product{ID: p.ID}, svc.Delete(ctx, p.ID)
		}, deleted},
	}
	for _, st := range steps {
		got, err := st.change()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		p = got
		evs := out.next(t)
		if st.want == productv1.ProductChanged_CHANGE_UNSPECIFIED {
			if len(evs) != 0 {
				t.Errorf("%s: events %v, want none", st.name, evs)
			}
			continue
		}
		t.Run(st.name, func(t *testing.T) { wantChange(t, evs, st.want, p) })
	}
	if p.Stock != 0 || p.ID == "" {
		t.Fatalf("the steps did not run through: %+v", p)
	}
}

// TestEventsOfAReservationOfTwoProducts: one stock event per product, with
// its stock after the change, for the reservation and for its release.
func TestEventsOfAReservationOfTwoProducts(t *testing.T) {
	f := newStockFixture(t)
	out := newOutboxReader(f.pool)
	a, b := f.add(t, "TWO-A", 10), f.add(t, "TWO-B", 5)
	out.next(t) // the creations
	ctx := context.Background()
	order := uuid.NewString()

	for _, step := range []struct {
		name      string
		do        func() error
		wantStock map[string]int64
	}{
		{"reserve", func() error { return f.stock.Reserve(ctx, order, items(b, 2, a, 3)) }, map[string]int64{a: 7, b: 3}},
		{"release", func() error { return f.stock.Release(ctx, order) }, map[string]int64{a: 10, b: 5}},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		evs := out.next(t)
		if len(evs) != 2 {
			t.Fatalf("%s: %d events %v, want one per product", step.name, len(evs), evs)
		}
		for _, ev := range evs {
			id := ev.GetProductId()
			want, err := f.svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if want.Stock != step.wantStock[id] {
				t.Fatalf("%s: stock of %s = %d, want %d", step.name, id, want.Stock, step.wantStock[id])
			}
			wantChange(t, []*productv1.ProductChanged{ev}, stocked, want)
		}
		if evs[0].GetProductId() == evs[1].GetProductId() {
			t.Errorf("%s: both events are of %s", step.name, evs[0].GetProductId())
		}
	}
}

// TestNoEventsWithoutAChange: a change refused, or one that finds nothing
// to do, adds no event.
func TestNoEventsWithoutAChange(t *testing.T) {
	f := newStockFixture(t)
	out := newOutboxReader(f.pool)
	a, b := f.add(t, "NONE-A", 2), f.add(t, "NONE-B", 2)
	out.next(t)
	ctx := context.Background()
	released := uuid.NewString()
	if err := f.stock.Release(ctx, released); err != nil { // a tombstone
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		do   func() error
		want errs.Kind // of the error; ignored when ok
		ok   bool
	}{
		{"duplicate sku", func() error { _, err := f.svc.Create(ctx, newProduct("NONE-A")); return err }, errs.Conflict, false},
		{"rename to a taken sku", func() error {
			_, err := f.svc.Update(ctx, a, product.Patch{SKU: ptr("NONE-B")})
			return err
		}, errs.Conflict, false},
		{"update of an unknown product", func() error {
			_, err := f.svc.Update(ctx, uuid.NewString(), product.Patch{Stock: ptr(int64(1))})
			return err
		}, errs.NotFound, false},
		{"delete of an unknown product", func() error { return f.svc.Delete(ctx, uuid.NewString()) }, errs.NotFound, false},
		{"short reservation", func() error { return f.stock.Reserve(ctx, uuid.NewString(), items(a, 3)) }, errs.Conflict, false},
		{"short reservation of two", func() error {
			return f.stock.Reserve(ctx, uuid.NewString(), items(a, 1, b, 3))
		}, errs.Conflict, false},
		{"reservation of a missing product", func() error {
			return f.stock.Reserve(ctx, uuid.NewString(), items(a, 1, uuid.NewString(), 1))
		}, errs.NotFound, false},
		{"reservation of a released order", func() error { return f.stock.Reserve(ctx, released, items(a, 1)) }, errs.Conflict, false},
		{"reservation of two of a released order", func() error {
			return f.stock.Reserve(ctx, released, items(a, 1, b, 1))
		}, errs.Conflict, false},
		{"release without a reservation", func() error { return f.stock.Release(ctx, uuid.NewString()) }, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if (tt.ok && err != nil) || (!tt.ok && !errs.Is(err, tt.want)) {
				t.Fatalf("error %v, want ok %v or kind %v", err, tt.ok, tt.want)
			}
			if evs := out.next(t); len(evs) != 0 {
				t.Errorf("events %v, want none", evs)
			}
		})
	}
	f.wantStock(t, map[string]int64{a: 2, b: 2})
}

// TestConcurrentReservationEventsInOrder: reservations racing for two
// products, of one item and of both, and releases of some of them: every
// committed change has its event, and the events of each product, in
// outbox order, show its stock moving one step at a time, as the changes
// committed.
func TestConcurrentReservationEventsInOrder(t *testing.T) {
	f := newStockFixture(t)
	out := newOutboxReader(f.pool)
	a, b := f.add(t, "RACE-A", 12), f.add(t, "RACE-B", 6)
	out.next(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changes = map[string]int{} // committed changes per product
		failed  []error
	)
	start := make(chan struct{})
	for i := range 24 {
		wg.Go(func() {
			<-start
			ctx, order := context.Background(), uuid.NewString()
			its := items(a, 1)
			if i%2 == 1 {
				its = items(a, 1, b, 1)
			}
			err := f.stock.Reserve(ctx, order, its)
			if err == nil && i%3 == 0 {
				err = f.stock.Release(ctx, order)
				if err == nil {
					its = append(its, its...) // given back: a second change each
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				for _, it := range its {
					changes[it.ProductID]++
				}
			case !errs.Is(err, errs.Conflict):
				failed = append(failed, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("unexpected errors: %v", failed)
	}

	stocks := map[string][]int64{}
	for _, ev := range out.next(t) {
		if ev.GetChange() != stocked {
			t.Fatalf("event %v, want stock changes only", ev)
		}
		stocks[ev.GetProductId()] = append(stocks[ev.GetProductId()], ev.GetProduct().GetStock())
	}
	for id, start := range map[string]int64{a: 12, b: 6} {
		got := stocks[id]
		if len(got) != changes[id] {
			t.Errorf("%s: %d events, want one per committed change: %d", id, len(got), changes[id])
		}
		prev := start
		for i, n := range got {
			if n != prev-1 && n != prev+1 {
				t.Fatalf("%s: stock in event %d is %d after %d: events out of commit order: %v", id, i, n, prev, got)
			}
			prev = n
		}
		f.wantStock(t, map[string]int64{id: prev})
	}
}

// TestRolledBackChangesHaveNoEvents: when the event cannot be written, the
// change it reports is rolled back with it, whatever the kind of change;
// once the outbox takes events again, the same changes go through.
func TestRolledBackChangesHaveNoEvents(t *testing.T) {
	f := newStockFixture(t)
	out := newOutboxReader(f.pool)
	a, b := f.add(t, "BACK-A", 5), f.add(t, "BACK-B", 5)
	ctx := context.Background()
	reserved := uuid.NewString()
	if err := f.stock.Reserve(ctx, reserved, items(a, 1)); err != nil {
		t.Fatal(err)
	}
	out.next(t)

	refuse := func(on bool) {
		t.Helper()
		sql := `ALTER TABLE outbox ADD CONSTRAINT outbox_refuses CHECK (false) NOT VALID`
		if !on {
			sql = `ALTER TABLE outbox DROP CONSTRAINT outbox_refuses`
		}
		if _, err := f.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	one, two := uuid.NewString(), uuid.NewString()
	changes := []struct {
		name string
		do   func() error
	}{
		{"create", func() error { _, err := f.svc.Create(ctx, newProduct("BACK-C")); return err }},
		{"update", func() error { _, err := f.svc.Update(ctx, a, product.Patch{Name: ptr("Renamed")}); return err }},
		{"stock update", func() error { _, err := f.svc.Update(ctx, b, product.Patch{Stock: ptr(int64(9))}); return err }},
		{"reservation", func() error { return f.stock.Reserve(ctx, one, items(a, 1)) }},
		{"reservation of two", func() error { return f.stock.Reserve(ctx, two, items(a, 1, b, 1)) }},
		{"release", func() error { return f.stock.Release(ctx, reserved) }},
		{"delete", func() error { return f.svc.Delete(ctx, b) }},
	}
	refuse(true)
	for _, c := range changes {
		if err := c.do(); err == nil {
			t.Errorf("%s succeeded while the outbox refused its event", c.name)
		}
	}
	if evs := out.next(t); len(evs) != 0 {
		t.Errorf("events %v, want none", evs)
	}
	f.wantStock(t, map[string]int64{a: 4, b: 5})
	if p, err := f.svc.Get(ctx, a); err != nil || p.Name != "Item BACK-A" {
		t.Errorf("after a rolled-back rename: %+v, %v; want the name unchanged", p, err)
	}

	// Nothing of the failed calls stayed behind: not the reservations nor
	// the release (which would make a retry a no-op), nor the product.
	refuse(false)
	for _, c := range changes {
		if err := c.do(); err != nil {
			t.Errorf("%s again: %v", c.name, err)
		}
	}
	if evs := out.next(t); len(evs) != 8 { // a reservation of two has two
		t.Errorf("%d events after the retries, want 8: %v", len(evs), evs)
	}
}

// TestEventsArePublished runs the outbox relay as cmd/product does and
// reads the events from the catalog's stream.
func TestEventsArePublished(t *testing.T) {
	f := newStockFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := testenv.JetStream(t, testenv.NATS(t).URL())
	if err := events.EnsureStream(ctx, js, product.EventStream); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, product.EventStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := info.State.LastSeq + 1 // the stream outlives a test run (-count)
	relay, err := outbox.Start(f.pool, js, outbox.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()

	a, b := f.add(t, "PUB-A", 5), f.add(t, "PUB-B", 5)
	if err := f.stock.Reserve(ctx, uuid.NewString(), items(a, 1, b, 2)); err != nil {
		t.Fatal(err)
	}
	type event struct {
		id     string
		change productv1.ProductChanged_Change
		stock  int64
	}
	// A reservation changes its products in id order.
	taken := []event{{a, stocked, 4}, {b, stocked, 3}}
	if b < a {
		taken[0], taken[1] = taken[1], taken[0]
	}
	want := append([]event{{a, created, 5}, {b, created, 5}}, taken...)
	for i, w := range want {
		var msg *jetstream.RawStreamMsg
		for msg == nil {
			if msg, err = stream.GetMsg(ctx, first+uint64(i)); err != nil && ctx.Err() != nil {
				t.Fatalf("message %d never came: %v", i, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		m, err := events.Unmarshal(msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		pc, _ := m.Data.(*productv1.ProductChanged)
		if msg.Subject != productv1.SubjectChanged || msg.Header.Get(jetstream.MsgIDHeader) != m.ID ||
			pc.GetProductId() != w.id || pc.GetChange() != w.change || pc.GetProduct().GetStock() != w.stock {
			t.Errorf("message %d on %s (id %s): %v; want %s of %s with stock %d",
				i, msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), pc, w.change, w.id, w.stock)
		}
	}
}
