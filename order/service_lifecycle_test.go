package order_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/order"
)

func TestListNewestFirstWithPages(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 100, "EUR")
	user, other, admin := uuid.NewString(), uuid.NewString(), uuid.NewString()
	var ids []string
	for range 5 {
		ids = append(ids, f.create(t, as(user), line(p, 1)).ID)
	}
	f.create(t, as(other), line(p, 1))
	slices.Reverse(ids) // newest first

	var got []string
	token := ""
	for range 10 {
		page, err := f.svc.List(as(user), order.ListQuery{Limit: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Orders {
			got = append(got, o.ID)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("listed %v, want %v", got, ids)
	}

	all, err := f.svc.List(as(admin, auth.RoleCustomer, auth.RoleAdmin), order.ListQuery{All: true})
	if err != nil || len(all.Orders) != 6 {
		t.Errorf("admin list all: %d orders, %v; want 6", len(all.Orders), err)
	}
	mine, err := f.svc.List(as(admin, auth.RoleCustomer, auth.RoleAdmin), order.ListQuery{})
	if err != nil || len(mine.Orders) != 0 {
		t.Errorf("admin's own list: %d orders, %v; want 0", len(mine.Orders), err)
	}

	for name, tt := range map[string]struct {
		ctx  context.Context
		q    order.ListQuery
		kind errs.Kind
	}{
		"customer lists all": {as(user), order.ListQuery{All: true}, errs.Forbidden},
		"no caller":          {context.Background(), order.ListQuery{}, errs.Unauthenticated},
		"bad page token":     {as(user), order.ListQuery{PageToken: "bm9wZQ"}, errs.Invalid},
		"limit too large":    {as(user), order.ListQuery{Limit: 101}, errs.Invalid},
		"negative limit":     {as(user), order.ListQuery{Limit: -1}, errs.Invalid},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.svc.List(tt.ctx, tt.q); !errs.Is(err, tt.kind) {
				t.Errorf("error %v, want %v", err, tt.kind)
			}
		})
	}
}

func TestGetVisibility(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 10, "EUR")
	owner := uuid.NewString()
	o := f.create(t, as(owner), line(p, 1))
	tests := []struct {
		name string
		ctx  context.Context
		id   string
		kind errs.Kind // 0: found
	}{
		{"owner", as(owner), o.ID, 0},
		{"admin", as(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin), o.ID, 0},
		{"other user", as(uuid.NewString()), o.ID, errs.NotFound},
		{"unknown id", as(owner), uuid.NewString(), errs.NotFound},
		{"malformed id", as(owner), "42", errs.Invalid},
		{"no caller", context.Background(), o.ID, errs.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.Get(tt.ctx, tt.id)
			if tt.kind == 0 {
				if err != nil || got.ID != o.ID {
					t.Errorf("Get = %+v, %v", got, err)
				}
				return
			}
			if !errs.Is(err, tt.kind) {
				t.Errorf("error %v, want %v", err, tt.kind)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 10, "EUR")
	owner := uuid.NewString()
	o := f.create(t, as(owner), line(p, 4))
	if got := f.catalog.stock(p.ID); got != 6 {
		t.Fatalf("stock %d after order, want 6", got)
	}

	if _, err := f.svc.Cancel(as(uuid.NewString()), o.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("cancel by another user: %v, want NotFound", err)
	}
	c, err := f.svc.Cancel(as(owner), o.ID)
	if err != nil || c.Status != order.StatusCancelled {
		t.Fatalf("Cancel = %+v, %v", c, err)
	}
	if got := f.catalog.stock(p.ID); got != 10 {
		t.Errorf("stock %d after cancel, want 10", got)
	}
	if _, err := f.svc.Cancel(as(owner), o.ID); !errs.Is(err, errs.Conflict) {
		t.Errorf("second cancel: %v, want Conflict", err)
	}
	if got := f.catalog.stock(p.ID); got != 10 {
		t.Errorf("stock %d after second cancel, want 10", got)
	}

	// A rejected order cannot be cancelled.
	_, err = f.svc.Create(as(owner), order.NewOrder{Items: []order.LineRequest{line(p, 11)}})
	if !errs.Is(err, errs.Conflict) {
		t.Fatal(err)
	}
	page, _ := f.svc.List(as(owner), order.ListQuery{})
	if _, err := f.svc.Cancel(as(owner), page.Orders[0].ID); !errs.Is(err, errs.Conflict) {
		t.Errorf("cancel rejected order: %v, want Conflict", err)
	}
}

func TestCancelWhileCatalogDownReleasesLater(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.product("A-1", 100, 10, "EUR")
	owner := uuid.NewString()
	o := f.create(t, as(owner), line(p, 4))

	f.catalog.setFail(errCatalogDown)
	c, err := f.svc.Cancel(as(owner), o.ID)
	if err != nil || c.Status != order.StatusCancelled {
		t.Fatalf("Cancel = %+v, %v; want cancelled even while the catalog is down", c, err)
	}
	rec := order.NewRecovery(f.repo, f.catalog, log.NewNopLogger(), order.RecoveryOptions{Age: time.Nanosecond})
	if st := rec.RunOnce(context.Background()); st.Released != 0 || st.Failed == 0 {
		t.Errorf("round while down: %+v, want a failed release", st)
	}
	f.catalog.setFail(nil)
	if st := rec.RunOnce(context.Background()); st.Released != 1 {
		t.Errorf("round after recovery: %+v, want 1 release", st)
	}
	if got := f.catalog.stock(p.ID); got != 10 {
		t.Errorf("stock %d, want 10", got)
	}
	if st := rec.RunOnce(context.Background()); st != (order.RecoveryStats{}) {
		t.Errorf("idle round: %+v, want nothing done", st)
	}
}

// crashingCatalog panics at a chosen step, like a process dying there.
type crashingCatalog struct {
	order.Catalog
	afterReserve  bool // panic after a successful Reserve
	lossyReserve  bool // Reserve succeeds but reports Unavailable
	beforeRelease bool // panic instead of releasing
}

func (c crashingCatalog) Reserve(ctx context.Context, orderID string, items []order.StockItem) error {
	err := c.Catalog.Reserve(ctx, orderID, items)
	if err == nil && c.afterReserve {
		panic("crash after reserve")
	}
	if err == nil && c.lossyReserve {
		return errs.New(errs.Unavailable, "request timed out")
	}
	return err
}

func (c crashingCatalog) Release(ctx context.Context, orderID string) error {
	if c.beforeRelease {
		panic("crash before release")
	}
	return c.Catalog.Release(ctx, orderID)
}

// createCrashing calls Create and swallows the panic of a crashing catalog.
func createCrashing(t *testing.T, svc order.Service, ctx context.Context, no order.NewOrder) {
	t.Helper()
	defer func() {
		if p := recover(); p == nil {
			t.Fatal("Create did not reach the crash")
		}
	}()
	svc.Create(ctx, no)
}

func TestRecoveryWithFakeCatalog(t *testing.T) {
	tests := []struct {
		name       string
		crash      crashingCatalog
		wantStatus order.Status
		wantStock  int64
	}{
		{"crash between reservation and confirmation", crashingCatalog{afterReserve: true}, order.StatusConfirmed, 7},
		{"crash after marking failed, before release", crashingCatalog{lossyReserve: true, beforeRelease: true}, order.StatusFailed, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := order.NewPostgres(newPool(t))
			fake := newFakeCatalog()
			p := fake.product("A-1", 100, 10, "EUR")
			user := uuid.NewString()
			crash := tt.crash
			crash.Catalog = fake
			createCrashing(t, order.NewService(repo, crash), as(user), order.NewOrder{Items: []order.LineRequest{line(p, 3)}})

			rec := order.NewRecovery(repo, fake, log.NewNopLogger(), order.RecoveryOptions{Age: time.Nanosecond})
			rec.RunOnce(context.Background())
			rec.RunOnce(context.Background()) // a second round changes nothing

			page, err := order.NewService(repo, fake).List(as(user), order.ListQuery{})
			if err != nil || len(page.Orders) != 1 {
				t.Fatalf("orders %+v, %v", page.Orders, err)
			}
			if got := page.Orders[0].Status; got != tt.wantStatus {
				t.Errorf("status %s, want %s", got, tt.wantStatus)
			}
			if got := fake.stock(p.ID); got != tt.wantStock {
				t.Errorf("stock %d, want %d", got, tt.wantStock)
			}
			if owed, _ := repo.ReleasePending(context.Background(), 10); len(owed) != 0 {
				t.Errorf("owed releases %v, want none", owed)
			}
		})
	}
}

func TestRecoveryStartStop(t *testing.T) {
	repo := order.NewPostgres(newPool(t))
	fake := newFakeCatalog()
	p := fake.product("A-1", 100, 10, "EUR")
	createCrashing(t, order.NewService(repo, crashingCatalog{Catalog: fake, afterReserve: true}), as(uuid.NewString()),
		order.NewOrder{Items: []order.LineRequest{line(p, 1)}})

	rec := order.NewRecovery(repo, fake, log.NewNopLogger(), order.RecoveryOptions{Age: time.Nanosecond, Interval: 10 * time.Millisecond})
	rec.Start()
	rec.Start() // no second loop
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending, err := repo.StalePending(context.Background(), time.Now().Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pending order not resolved by the running loop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		rec.Stop()
		rec.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	rec.Start() // after Stop: nothing
	rec.Stop()
}
