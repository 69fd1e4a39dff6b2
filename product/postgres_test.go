package product_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/product"
)

func TestPostgresCreateGet(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	ctx := context.Background()

	before := time.Now().Add(-time.Minute)
	created, err := svc.Create(ctx, product.NewProduct{
		SKU: "cof-001", Name: " Espresso beans ", Description: "Dark roast, 1 kg",
		PriceMinor: 1899, Currency: "eur", Stock: 12,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := uuid.Parse(created.ID); err != nil {
		t.Errorf("id %q is not a UUID", created.ID)
	}
	want := product.Product{
		ID: created.ID, SKU: "COF-001", Name: "Espresso beans", Description: "Dark roast, 1 kg",
		PriceMinor: 1899, Currency: "EUR", Stock: 12, CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt,
	}
	if created != want {
		t.Errorf("Create returned %+v, want %+v", created, want)
	}
	if created.CreatedAt.Before(before) || created.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v, want a recent UTC time", created.CreatedAt)
	}

	got, err := svc.Get(ctx, created.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("Get created_at %v, want %v", got.CreatedAt, created.CreatedAt)
	}
	got.CreatedAt, got.UpdatedAt = created.CreatedAt, created.UpdatedAt
	if got != created {
		t.Errorf("Get = %+v, want %+v", got, created)
	}

	if _, err := svc.Get(ctx, uuid.NewString()); !errs.Is(err, errs.NotFound) {
		t.Errorf("Get(unknown) error = %v, want not_found", err)
	}
}

func TestPostgresDuplicateSKU(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	ctx := context.Background()
	first := mustCreate(t, svc, "DUP-001")
	other := mustCreate(t, svc, "DUP-002")

	_, err := svc.Create(ctx, newProduct("dup-001"))
	if !errs.Is(err, errs.Conflict) {
		t.Fatalf("Create(duplicate) error = %v, want conflict", err)
	}
	if got := fieldNames(err); !slices.Equal(got, []string{"sku"}) {
		t.Errorf("conflict fields = %v, want [sku]", got)
	}
	if _, err := svc.Update(ctx, other.ID, product.Patch{SKU: ptr(first.SKU)}); !errs.Is(err, errs.Conflict) {
		t.Errorf("Update to a taken SKU error = %v, want conflict", err)
	}
	// Renaming to its own SKU is no conflict.
	if _, err := svc.Update(ctx, first.ID, product.Patch{SKU: ptr(first.SKU)}); err != nil {
		t.Errorf("Update to its own SKU: %v", err)
	}
}

func TestPostgresUpdatePartial(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	ctx := context.Background()
	orig := mustCreate(t, svc, "UPD-001")

	got, err := svc.Update(ctx, orig.ID, product.Patch{Stock: ptr[int64](0), Description: ptr("")})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := orig
	want.Stock, want.Description = 0, ""
	want.UpdatedAt = got.UpdatedAt
	if got != want {
		t.Errorf("after update got %+v, want %+v", got, want)
	}
	if !got.UpdatedAt.After(orig.UpdatedAt) {
		t.Errorf("updated_at %v did not move past %v", got.UpdatedAt, orig.UpdatedAt)
	}

	// A patch that sets the current values changes nothing, not even
	// updated_at.
	again, err := svc.Update(ctx, orig.ID, product.Patch{Stock: ptr[int64](0), Name: ptr(orig.Name)})
	if err != nil {
		t.Fatalf("redundant Update: %v", err)
	}
	if !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("redundant update moved updated_at from %v to %v", got.UpdatedAt, again.UpdatedAt)
	}

	all, err := svc.Update(ctx, orig.ID, product.Patch{
		SKU: ptr("upd-002"), Name: ptr("New name"), Description: ptr("New description"),
		PriceMinor: ptr[int64](1), Currency: ptr("usd"), Stock: ptr[int64](7),
	})
	if err != nil {
		t.Fatalf("full Update: %v", err)
	}
	stored, err := svc.Get(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored != all || stored.SKU != "UPD-002" || stored.Currency != "USD" || stored.Name != "New name" ||
		stored.Description != "New description" || stored.PriceMinor != 1 || stored.Stock != 7 {
		t.Errorf("stored %+v, update returned %+v", stored, all)
	}
	if !stored.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("created_at changed from %v to %v", orig.CreatedAt, stored.CreatedAt)
	}

	if _, err := svc.Update(ctx, uuid.NewString(), product.Patch{Stock: ptr[int64](1)}); !errs.Is(err, errs.NotFound) {
		t.Errorf("Update(unknown) error = %v, want not_found", err)
	}
}

func TestPostgresDelete(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	ctx := context.Background()
	p := mustCreate(t, svc, "DEL-001")
	keep := mustCreate(t, svc, "DEL-002")

	if err := svc.Delete(ctx, p.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := svc.Get(ctx, p.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("Get after delete error = %v, want not_found", err)
	}
	if err := svc.Delete(ctx, p.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("second Delete error = %v, want not_found", err)
	}
	if _, err := svc.Get(ctx, keep.ID); err != nil {
		t.Errorf("the other product is gone: %v", err)
	}
	// The SKU is free again.
	if _, err := svc.Create(ctx, newProduct("DEL-001")); err != nil {
		t.Errorf("re-creating a deleted SKU: %v", err)
	}
}

func TestPostgresListPagination(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	ctx := context.Background()

	// SKUs in an insertion order unrelated to their sort order, with digits,
	// hyphens and letters, whose byte order (the schema's "C" collation)
	// differs from a natural-language one.
	var want []string
	for i := range 57 {
		sku := fmt.Sprintf("%c%02d-%d", 'Z'-rune(i%26), (i*37)%100, i)
		if i%5 == 0 {
			sku = fmt.Sprintf("%d-X%d", i, i)
		}
		mustCreate(t, svc, sku)
		want = append(want, sku)
	}
	slices.Sort(want) // byte order

	for _, limit := range []int{1, 7, 10, 56, 57, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := walk(t, svc, product.ListQuery{Limit: limit})
			if !slices.Equal(got, want) {
				t.Errorf("walking pages of %d got\n%v\nwant\n%v", limit, got, want)
			}
		})
	}

	t.Run("stable", func(t *testing.T) {
		a := walk(t, svc, product.ListQuery{Limit: 9})
		b := walk(t, svc, product.ListQuery{Limit: 9})
		if !slices.Equal(a, b) {
			t.Errorf("two walks differ:\n%v\n%v", a, b)
		}
	})

	t.Run("concurrent changes", func(t *testing.T) {
		// Changes behind the cursor do not shift the remaining pages: no
		// product is repeated or skipped.
		page1, err := svc.List(ctx, product.ListQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, page1.Products[0].ID); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, svc, "0000-NEW") // sorts first, behind the cursor
		rest := walk(t, svc, product.ListQuery{Limit: 10, PageToken: page1.NextPageToken})
		if !slices.Equal(rest, want[10:]) {
			t.Errorf("after changes got\n%v\nwant\n%v", rest, want[10:])
		}
	})
}

func TestPostgresListEmpty(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	page, err := svc.List(context.Background(), product.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Products == nil || len(page.Products) != 0 || page.NextPageToken != "" {
		t.Errorf("empty catalog: got %#v, want an empty list and no token", page)
	}
}

func TestPostgresListFilter(t *testing.T) {
	svc, _, _ := newPostgresService(t)
	ctx := context.Background()
	for _, np := range []product.NewProduct{
		{SKU: "TEE-100", Name: "100% cotton tee", Description: "Organic", PriceMinor: 1900, Currency: "EUR"},
		{SKU: "MUG-SNAKE", Name: "snake_case mug", Description: "For Python fans", PriceMinor: 1200, Currency: "EUR"},
		{SKU: "MUG-PLAIN", Name: "Plain mug", Description: `Holds C:\coffee`, PriceMinor: 900, Currency: "EUR"},
		{SKU: "BOOK-GO", Name: "The Go Programming Language", Description: "A classic", PriceMinor: 3999, Currency: "USD"},
		{SKU: "SNAKEX-1", Name: "Toy snake", Description: "Rubber, 100 cm", PriceMinor: 500, Currency: "EUR"},
	} {
		if _, err := svc.Create(ctx, np); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"", []string{"BOOK-GO", "MUG-PLAIN", "MUG-SNAKE", "SNAKEX-1", "TEE-100"}},
		{"mug", []string{"MUG-PLAIN", "MUG-SNAKE"}},
		{"MUG", []string{"MUG-PLAIN", "MUG-SNAKE"}},     // case-insensitive
		{"  mug  ", []string{"MUG-PLAIN", "MUG-SNAKE"}}, // trimmed
		{"python", []string{"MUG-SNAKE"}},               // description
		{"book-", []string{"BOOK-GO"}},                  // SKU
		{"%", []string{"TEE-100"}},                      // literal percent, not "anything"
		{"100%", []string{"TEE-100"}},                   // not "100" followed by anything
		{"_", []string{"MUG-SNAKE"}},                    // literal underscore, not "any character"
		{"e_c", []string{"MUG-SNAKE"}},                  // "snake_case", but not "snake case"-like matches
		{`\`, []string{"MUG-PLAIN"}},                    // the escape character itself
		{`c:\c`, []string{"MUG-PLAIN"}},                 // backslash followed by a letter
		{"100", []string{"SNAKEX-1", "TEE-100"}},
		{"snake", []string{"MUG-SNAKE", "SNAKEX-1"}},
		{"nothing like this", []string{}},
		{"%%%", []string{}},
		{"ünïcödé", []string{}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("q=%q", tt.q), func(t *testing.T) {
			got := walk(t, svc, product.ListQuery{Q: tt.q, Limit: 2})
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPostgresConstraints checks that the schema enforces the rules on its
// own, for writers that bypass the service's validation.
func TestPostgresConstraints(t *testing.T) {
	_, repo, pool := newPostgresService(t)
	ctx := context.Background()

	t.Run("repository maps violations to invalid", func(t *testing.T) {
		tests := []struct {
			name  string
			edit  func(*product.NewProduct)
			field string
		}{
			{"negative price", func(p *product.NewProduct) { p.PriceMinor = -1 }, "price_minor"},
			{"negative stock", func(p *product.NewProduct) { p.Stock = -1 }, "stock"},
			{"lower-case currency", func(p *product.NewProduct) { p.Currency = "eur" }, "currency"},
			{"empty name", func(p *product.NewProduct) { p.Name = "" }, "name"},
			{"untrimmed name", func(p *product.NewProduct) { p.Name = " x" }, "name"},
			{"long name", func(p *product.NewProduct) { p.Name = strings.Repeat("x", 201) }, "name"},
			{"long description", func(p *product.NewProduct) { p.Description = strings.Repeat("x", 4001) }, "description"},
			{"lower-case sku", func(p *product.NewProduct) { p.SKU = "abc-1" }, "sku"},
			{"huge price", func(p *product.NewProduct) { p.PriceMinor = product.MaxPriceMinor + 1 }, "price_minor"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				np := newProduct("CHK-001")
				tt.edit(&np)
				_, err := repo.Create(ctx, np)
				if got := errs.KindOf(err); got != errs.Invalid {
					t.Fatalf("Create error kind = %v (%v), want invalid", got, err)
				}
				if got := fieldNames(err); !slices.Equal(got, []string{tt.field}) {
					t.Errorf("fields = %v, want [%s]", got, tt.field)
				}
			})
		}
	})

	t.Run("update", func(t *testing.T) {
		p, err := repo.Create(ctx, newProduct("CHK-002"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = repo.Update(ctx, p.ID, product.Patch{Stock: ptr[int64](-5)})
		if got := errs.KindOf(err); got != errs.Invalid {
			t.Errorf("Update(stock -5) error kind = %v (%v), want invalid", got, err)
		}
	})

	t.Run("raw SQL", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO products (sku, name, price_minor, currency, stock) VALUES ('RAW-1', 'x', -1, 'EUR', 0)`)
		if err == nil {
			t.Fatal("negative price inserted with raw SQL")
		}
		_, err = pool.Exec(ctx, `INSERT INTO products (sku, name, price_minor, currency) VALUES ('RAW-2', 'x', 1, 'EUR'), ('RAW-2', 'y', 1, 'EUR')`)
		if err == nil {
			t.Fatal("duplicate SKU inserted with raw SQL")
		}
	})
}

func TestPostgresUnavailable(t *testing.T) {
	svc, _, pool := newPostgresService(t)
	pool.Close()
	_, err := svc.List(context.Background(), product.ListQuery{})
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Errorf("List on a closed pool: kind = %v (%v), want unavailable", got, err)
	}
	if msg := errs.Message(err); strings.Contains(msg, "closed") {
		t.Errorf("client message %q leaks the cause", msg)
	}
}

// walk lists every page for q and returns the SKUs in order, failing on a
// repeated SKU or an endless walk.
func walk(t *testing.T, svc product.Service, q product.ListQuery) []string {
	t.Helper()
	skus := []string{}
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		page, err := svc.List(context.Background(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = product.DefaultPageSize
		}
		if len(page.Products) > limit {
			t.Fatalf("page of %d products, limit %d", len(page.Products), limit)
		}
		if page.NextPageToken != "" && len(page.Products) != limit {
			t.Fatalf("short page (%d of %d) with a next page token", len(page.Products), limit)
		}
		for _, p := range page.Products {
			if seen[p.SKU] {
				t.Fatalf("SKU %s listed twice", p.SKU)
			}
			seen[p.SKU] = true
			skus = append(skus, p.SKU)
		}
		if page.NextPageToken == "" {
			return skus
		}
		q.PageToken = page.NextPageToken
	}
}

func newProduct(sku string) product.NewProduct {
	return product.NewProduct{SKU: sku, Name: "Product " + sku, Description: "About " + sku, PriceMinor: 1000, Currency: "EUR", Stock: 3}
}

func mustCreate(t *testing.T, svc product.Service, sku string) product.Product {
	t.Helper()
	p, err := svc.Create(context.Background(), newProduct(sku))
	if err != nil {
		t.Fatalf("Create(%s): %v", sku, err)
	}
	return p
}
