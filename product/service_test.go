package product_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/product"
)

// memRepo is an in-memory product.Repository for unit tests of the service's
// rules. It behaves like the Postgres one where the service can tell.
type memRepo struct {
	mu       sync.Mutex
	products map[string]product.Product
	lists    []product.Filter // filters received, to check what the service asked for
	calls    int
}

func newMemRepo() *memRepo {
	return &memRepo{products: map[string]product.Product{}}
}

func (r *memRepo) List(_ context.Context, f product.Filter) ([]product.Product, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.lists = append(r.lists, f)
	var all []product.Product
	q := strings.ToLower(f.Q)
	for _, p := range r.products {
		if p.SKU <= f.AfterSKU {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(p.SKU+"\x00"+p.Name+"\x00"+p.Description), q) {
			continue
		}
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b product.Product) int { return strings.Compare(a.SKU, b.SKU) })
	if len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, nil
}

func (r *memRepo) Get(_ context.Context, id string) (product.Product, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	p, ok := r.products[id]
	if !ok {
		return product.Product{}, errs.New(errs.NotFound, "product not found")
	}
	return p, nil
}

func (r *memRepo) Create(_ context.Context, np product.NewProduct) (product.Product, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	for _, p := range r.products {
		if p.SKU == np.SKU {
			return product.Product{}, errs.New(errs.Conflict, "a product with this SKU already exists")
		}
	}
	now := time.Now().UTC()
	p := product.Product{
		ID: uuid.NewString(), SKU: np.SKU, Name: np.Name, Description: np.Description,
		PriceMinor: np.PriceMinor, Currency: np.Currency, Stock: np.Stock, CreatedAt: now, UpdatedAt: now,
	}
	r.products[p.ID] = p
	return p, nil
}

func (r *memRepo) Update(_ context.Context, id string, patch product.Patch) (product.Product, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	p, ok := r.products[id]
	if !ok {
		return product.Product{}, errs.New(errs.NotFound, "product not found")
	}
	if patch.SKU != nil {
		p.SKU = *patch.SKU
	}
	if patch.Name != nil {
		p.Name = *patch.Name
	}
	if patch.Description != nil {
		p.Description = *patch.Description
	}
	if patch.PriceMinor != nil {
		p.PriceMinor = *patch.PriceMinor
	}
	if patch.Currency != nil {
		p.Currency = *patch.Currency
	}
	if patch.Stock != nil {
		p.Stock = *patch.Stock
	}
	r.products[id] = p
	return p, nil
}

func (r *memRepo) Delete(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if _, ok := r.products[id]; !ok {
		return errs.New(errs.NotFound, "product not found")
	}
	delete(r.products, id)
	return nil
}

func (r *memRepo) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func ptr[T any](v T) *T { return &v }

func validNew() product.NewProduct {
	return product.NewProduct{
		SKU: "COF-001", Name: "Espresso beans", Description: "Dark roast",
		PriceMinor: 1299, Currency: "EUR", Stock: 10,
	}
}

// fieldNames returns the fields an Invalid error names, in order.
func fieldNames(err error) []string {
	var names []string
	for _, f := range errs.FieldsOf(err) {
		names = append(names, f.Field)
	}
	return names
}

func TestCreateValidation(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*product.NewProduct)
		wantFields []string // nil: valid
	}{
		{"valid", func(*product.NewProduct) {}, nil},
		{"zero price and stock", func(p *product.NewProduct) { p.PriceMinor, p.Stock = 0, 0 }, nil},
		{"max price and stock", func(p *product.NewProduct) { p.PriceMinor, p.Stock = product.MaxPriceMinor, product.MaxStock }, nil},
		{"empty description", func(p *product.NewProduct) { p.Description = "" }, nil},
		{"name of 200 characters", func(p *product.NewProduct) { p.Name = strings.Repeat("é", 200) }, nil},
		{"description of 4000 characters", func(p *product.NewProduct) { p.Description = strings.Repeat("ü", 4000) }, nil},
		{"empty sku", func(p *product.NewProduct) { p.SKU = "" }, []string{"sku"}},
		{"short sku", func(p *product.NewProduct) { p.SKU = "AB" }, []string{"sku"}},
		{"long sku", func(p *product.NewProduct) { p.SKU = strings.Repeat("A", 65) }, []string{"sku"}},
		{"sku starting with hyphen", func(p *product.NewProduct) { p.SKU = "-ABC" }, []string{"sku"}},
		{"sku with space inside", func(p *product.NewProduct) { p.SKU = "AB C" }, []string{"sku"}},
		{"sku with underscore", func(p *product.NewProduct) { p.SKU = "AB_C" }, []string{"sku"}},
		{"sku with non-ASCII letter", func(p *product.NewProduct) { p.SKU = "ÄBC" }, []string{"sku"}},
		{"empty name", func(p *product.NewProduct) { p.Name = "" }, []string{"name"}},
		{"blank name", func(p *product.NewProduct) { p.Name = " \t " }, []string{"name"}},
		{"name too long", func(p *product.NewProduct) { p.Name = strings.Repeat("x", 201) }, []string{"name"}},
		{"name with newline", func(p *product.NewProduct) { p.Name = "two\nlines" }, []string{"name"}},
		{"name with NUL", func(p *product.NewProduct) { p.Name = "a\x00b" }, []string{"name"}},
		{"name invalid UTF-8", func(p *product.NewProduct) { p.Name = "a\xffb" }, []string{"name"}},
		{"description too long", func(p *product.NewProduct) { p.Description = strings.Repeat("x", 4001) }, []string{"description"}},
		{"description with NUL", func(p *product.NewProduct) { p.Description = "a\x00b" }, []string{"description"}},
		{"negative price", func(p *product.NewProduct) { p.PriceMinor = -1 }, []string{"price_minor"}},
		{"price too high", func(p *product.NewProduct) { p.PriceMinor = product.MaxPriceMinor + 1 }, []string{"price_minor"}},
		{"empty currency", func(p *product.NewProduct) { p.Currency = "" }, []string{"currency"}},
		{"currency too long", func(p *product.NewProduct) { p.Currency = "EURO" }, []string{"currency"}},
		{"currency with digit", func(p *product.NewProduct) { p.Currency = "EU1" }, []string{"currency"}},
		{"negative stock", func(p *product.NewProduct) { p.Stock = -1 }, []string{"stock"}},
		{"stock too high", func(p *product.NewProduct) { p.Stock = product.MaxStock + 1 }, []string{"stock"}},
		{"every field bad", func(p *product.NewProduct) {
			*p = product.NewProduct{SKU: "?", Name: "", Description: strings.Repeat("x", 4001), PriceMinor: -5, Currency: "euro", Stock: -1}
		}, []string{"sku", "name", "description", "price_minor", "currency", "stock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newMemRepo()
			svc := product.NewService(repo)
			in := validNew()
			tt.edit(&in)
			_, err := svc.Create(context.Background(), in)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Fatalf("Create error kind = %v (%v), want invalid", got, err)
			}
			if got := fieldNames(err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
			if repo.callCount() != 0 {
				t.Errorf("repository called %d times for invalid input, want 0", repo.callCount())
			}
		})
	}
}

func TestCreateNormalizes(t *testing.T) {
	svc := product.NewService(newMemRepo())
	got, err := svc.Create(context.Background(), product.NewProduct{
		SKU: "  cof-001 ", Name: "  Espresso beans\t", PriceMinor: 1, Currency: "eur ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.SKU != "COF-001" || got.Name != "Espresso beans" || got.Currency != "EUR" {
		t.Errorf("got sku %q, name %q, currency %q; want COF-001, Espresso beans, EUR", got.SKU, got.Name, got.Currency)
	}
}

func TestMalformedIDs(t *testing.T) {
	ids := []string{
		"",
		"not-a-uuid",
		"123",
		"6ba7b8109dad11d180b400c04fd430c8",       // valid UUID, not canonical
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", // braces
		"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", // URN
		"6ba7b810-9dad-11d1-80b4-00c04fd430cg",          // not hex
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8 ",         // trailing space
	}
	svc := product.NewService(newMemRepo())
	ctx := context.Background()
	for _, id := range ids {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			calls := map[string]error{}
			_, calls["Get"] = svc.Get(ctx, id)
			_, calls["Update"] = svc.Update(ctx, id, product.Patch{Stock: ptr[int64](1)})
			calls["Delete"] = svc.Delete(ctx, id)
			for method, err := range calls {
				if got := errs.KindOf(err); got != errs.Invalid {
					t.Errorf("%s error kind = %v (%v), want invalid", method, got, err)
				}
				if got := fieldNames(err); !slices.Equal(got, []string{"id"}) {
					t.Errorf("%s fields = %v, want [id]", method, got)
				}
			}
		})
	}
}

func TestIDsAreCaseInsensitive(t *testing.T) {
	svc := product.NewService(newMemRepo())
	ctx := context.Background()
	created, err := svc.Create(ctx, validNew())
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Get(ctx, strings.ToUpper(created.ID))
	if err != nil {
		t.Fatalf("Get(upper-case id): %v", err)
	}
	if got.ID != created.ID {
		t.Errorf("got id %s, want %s", got.ID, created.ID)
	}
}

func TestUpdateValidation(t *testing.T) {
	tests := []struct {
		name       string
		patch      product.Patch
		wantFields []string // nil with wantErr: an Invalid error without fields
		wantErr    bool
	}{
		{name: "empty patch", patch: product.Patch{}, wantErr: true},
		{name: "one valid field", patch: product.Patch{Stock: ptr[int64](0)}},
		{name: "empty description allowed", patch: product.Patch{Description: ptr("")}},
		{name: "blank name", patch: product.Patch{Name: ptr("  ")}, wantFields: []string{"name"}, wantErr: true},
		{name: "bad sku", patch: product.Patch{SKU: ptr("x")}, wantFields: []string{"sku"}, wantErr: true},
		{name: "bad price and stock", patch: product.Patch{PriceMinor: ptr[int64](-1), Stock: ptr[int64](-1)},
			wantFields: []string{"price_minor", "stock"}, wantErr: true},
		{name: "bad currency with good name", patch: product.Patch{Name: ptr("ok"), Currency: ptr("E")},
			wantFields: []string{"currency"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newMemRepo()
			svc := product.NewService(repo)
			ctx := context.Background()
			p, err := svc.Create(ctx, validNew())
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.Update(ctx, p.ID, tt.patch)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Fatalf("Update error kind = %v (%v), want invalid", got, err)
			}
			if got := fieldNames(err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestUpdateNormalizesAndKeepsOtherFields(t *testing.T) {
	svc := product.NewService(newMemRepo())
	ctx := context.Background()
	p, err := svc.Create(ctx, validNew())
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Update(ctx, p.ID, product.Patch{SKU: ptr(" cof-002"), Currency: ptr("usd")})
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.SKU, want.Currency = "COF-002", "USD"
	if got != want {
		t.Errorf("after update got %+v, want %+v", got, want)
	}
}

func TestNotFoundAndConflictPassThrough(t *testing.T) {
	svc := product.NewService(newMemRepo())
	ctx := context.Background()
	missing := uuid.NewString()
	if _, err := svc.Get(ctx, missing); !errs.Is(err, errs.NotFound) {
		t.Errorf("Get(missing) = %v, want not_found", err)
	}
	if err := svc.Delete(ctx, missing); !errs.Is(err, errs.NotFound) {
		t.Errorf("Delete(missing) = %v, want not_found", err)
	}
	if _, err := svc.Create(ctx, validNew()); err != nil {
		t.Fatal(err)
	}
	dup := validNew()
	dup.SKU = "cof-001" // same SKU after normalisation
	if _, err := svc.Create(ctx, dup); !errs.Is(err, errs.Conflict) {
		t.Errorf("Create(duplicate) = %v, want conflict", err)
	}
}

func TestListValidation(t *testing.T) {
	tests := []struct {
		name       string
		query      product.ListQuery
		wantFields []string
	}{
		{"defaults", product.ListQuery{}, nil},
		{"limit 1", product.ListQuery{Limit: 1}, nil},
		{"limit 100", product.ListQuery{Limit: 100}, nil},
		{"limit 101", product.ListQuery{Limit: 101}, []string{"limit"}},
		{"limit 100000", product.ListQuery{Limit: 100000}, []string{"limit"}},
		{"negative limit", product.ListQuery{Limit: -1}, []string{"limit"}},
		{"q of 200 characters", product.ListQuery{Q: strings.Repeat("ß", 200)}, nil},
		{"q too long", product.ListQuery{Q: strings.Repeat("x", 201)}, []string{"q"}},
		{"q with NUL", product.ListQuery{Q: "a\x00"}, []string{"q"}},
		{"page token not base64", product.ListQuery{PageToken: "!!!"}, []string{"page_token"}},
		{"page token without version", product.ListQuery{PageToken: base64.RawURLEncoding.EncodeToString([]byte("COF-001"))}, []string{"page_token"}},
		{"page token with bad sku", product.ListQuery{PageToken: base64.RawURLEncoding.EncodeToString([]byte("v1:' OR 1=1"))}, []string{"page_token"}},
		{"page token too long", product.ListQuery{PageToken: strings.Repeat("A", 1000)}, []string{"page_token"}},
		{"all bad", product.ListQuery{Limit: 1000, Q: strings.Repeat("x", 300), PageToken: "x"}, []string{"limit", "q", "page_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := product.NewService(newMemRepo())
			_, err := svc.List(context.Background(), tt.query)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Fatalf("List error kind = %v (%v), want invalid", got, err)
			}
			if got := fieldNames(err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	repo := newMemRepo()
	svc := product.NewService(repo)
	ctx := context.Background()
	var want []string
	for i := range 45 {
		np := validNew()
		np.SKU = fmt.Sprintf("SKU-%03d", i)
		if _, err := svc.Create(ctx, np); err != nil {
			t.Fatal(err)
		}
		want = append(want, np.SKU)
	}

	page, err := svc.List(ctx, product.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(page.Products); got != product.DefaultPageSize {
		t.Errorf("default page has %d products, want %d", got, product.DefaultPageSize)
	}

	var got []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := svc.List(ctx, product.ListQuery{Limit: 15, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Products {
			got = append(got, p.SKU)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if !slices.Equal(got, want) {
		t.Errorf("walking pages got %v, want %v", got, want)
	}
	// 45 products in pages of 15: exactly three pages, no empty fourth one.
	if n := len(repo.lists); n != 4 {
		t.Errorf("repository List called %d times, want 4 (1 default + 3 pages)", n)
	}
}

func TestListEmptyIsNotNil(t *testing.T) {
	svc := product.NewService(newMemRepo())
	page, err := svc.List(context.Background(), product.ListQuery{Q: "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Products == nil || len(page.Products) != 0 || page.NextPageToken != "" {
		t.Errorf("got %#v, want an empty non-nil list and no token", page)
	}
}

func TestPatchFields(t *testing.T) {
	p := product.Patch{Name: ptr("x"), Stock: ptr[int64](1)}
	if got, want := p.Fields(), []string{"name", "stock"}; !slices.Equal(got, want) {
		t.Errorf("Fields() = %v, want %v", got, want)
	}
	if p.Empty() || !(product.Patch{}).Empty() {
		t.Error("Empty() wrong")
	}
}
