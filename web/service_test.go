package web_test

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
	"github.com/kitshop/kitshop/kit/paging"
	"github.com/kitshop/kitshop/web"
)

// memRepo is an in-memory web.Repository for unit tests of the
// service's rules. It behaves like the Postgres one where the service can
// tell.
type memRepo struct {
	mu    sync.Mutex
	items map[string]web.Item
	lists []web.Filter // filters received, to check what the service asked for
	calls int
}

func newMemRepo() *memRepo {
	return &memRepo{items: map[string]web.Item{}}
}

func (r *memRepo) List(_ context.Context, f web.Filter) ([]web.Item, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.lists = append(r.lists, f)
	var all []web.Item
	for _, it := range r.items {
		if it.Name > f.AfterName {
			all = append(all, it)
		}
	}
	slices.SortFunc(all, func(a, b web.Item) int { return strings.Compare(a.Name, b.Name) })
	if len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, nil
}

func (r *memRepo) Get(_ context.Context, id string) (web.Item, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	it, ok := r.items[id]
	if !ok {
		return web.Item{}, errs.New(errs.NotFound, "item not found")
	}
	return it, nil
}

func (r *memRepo) Create(_ context.Context, in web.NewItem) (web.Item, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	for _, it := range r.items {
		if it.Name == in.Name {
			return web.Item{}, errs.New(errs.Conflict, "an item with this name already exists")
		}
	}
	now := time.Now().UTC()
	it := web.Item{
		ID: uuid.NewString(), Name: in.Name, Description: in.Description, Quantity: in.Quantity,
		CreatedAt: now, UpdatedAt: now,
	}
	r.items[it.ID] = it
	return it, nil
}

func (r *memRepo) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func validNew() web.NewItem {
	return web.NewItem{Name: "Blue widget", Description: "The blue one", Quantity: 12}
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
		edit       func(*web.NewItem)
		wantFields []string // nil: valid
	}{
		{"valid", func(*web.NewItem) {}, nil},
		{"zero quantity", func(it *web.NewItem) { it.Quantity = 0 }, nil},
		{"max quantity", func(it *web.NewItem) { it.Quantity = web.MaxQuantity }, nil},
		{"empty description", func(it *web.NewItem) { it.Description = "" }, nil},
		{"name of 40 characters", func(it *web.NewItem) { it.Name = strings.Repeat("é", 40) }, nil},
		{"description of 2000 characters", func(it *web.NewItem) { it.Description = strings.Repeat("ü", 2000) }, nil},
		{"empty name", func(it *web.NewItem) { it.Name = "" }, []string{"name"}},
		{"blank name", func(it *web.NewItem) { it.Name = " \t " }, []string{"name"}},
		{"name too long", func(it *web.NewItem) { it.Name = strings.Repeat("x", 41) }, []string{"name"}},
		{"name with newline", func(it *web.NewItem) { it.Name = "two\nlines" }, []string{"name"}},
		{"name invalid UTF-8", func(it *web.NewItem) { it.Name = "a\xffb" }, []string{"name"}},
		{"description too long", func(it *web.NewItem) { it.Description = strings.Repeat("x", 2001) }, []string{"description"}},
		{"description with NUL", func(it *web.NewItem) { it.Description = "a\x00b" }, []string{"description"}},
		{"negative quantity", func(it *web.NewItem) { it.Quantity = -1 }, []string{"quantity"}},
		{"quantity too high", func(it *web.NewItem) { it.Quantity = web.MaxQuantity + 1 }, []string{"quantity"}},
		{"every field bad", func(it *web.NewItem) {
			*it = web.NewItem{Name: "", Description: strings.Repeat("x", 2001), Quantity: -5}
		}, []string{"name", "description", "quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newMemRepo()
			svc := web.NewService(repo)
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
			if got := repo.callCount(); got != 0 {
				t.Errorf("repository called %d times for invalid input, want 0", got)
			}
		})
	}
}

func TestCreateTrimsName(t *testing.T) {
	svc := web.NewService(newMemRepo())
	got, err := svc.Create(context.Background(), web.NewItem{Name: "  Blue widget\t"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Blue widget"; got.Name != want {
		t.Errorf("name = %q, want %q", got.Name, want)
	}
}

func TestMalformedIDs(t *testing.T) {
	ids := []string{
		"",
		"not-a-uuid",
		"6ba7b8109dad11d180b400c04fd430c8",       // valid UUID, not canonical
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", // braces
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8 ",  // trailing space
	}
	repo := newMemRepo()
	svc := web.NewService(repo)
	for _, id := range ids {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			_, err := svc.Get(context.Background(), id)
			if got := errs.KindOf(err); got != errs.Invalid {
				t.Errorf("Get error kind = %v (%v), want invalid", got, err)
			}
			if got := fieldNames(err); !slices.Equal(got, []string{"id"}) {
				t.Errorf("fields = %v, want [id]", got)
			}
		})
	}
	if got := repo.callCount(); got != 0 {
		t.Errorf("repository called %d times for malformed ids, want 0", got)
	}
}

func TestListPages(t *testing.T) {
	svc := web.NewService(newMemRepo())
	ctx := context.Background()
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("item %02d", i)
		want = append(want, name)
		if _, err := svc.Create(ctx, web.NewItem{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := web.ListQuery{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("more pages than items")
		}
		page, err := svc.List(ctx, q)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Items) > 2 {
			t.Fatalf("page of %d items, want at most 2", len(page.Items))
		}
		for _, it := range page.Items {
			got = append(got, it.Name)
		}
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}

// TestListPagesOfLongestNames pages past names of MaxNameLen characters of
// 4 bytes each: the token that carries such a name must still be one the
// service accepts (kit/paging bounds a token's length).
func TestListPagesOfLongestNames(t *testing.T) {
	svc := web.NewService(newMemRepo())
	ctx := context.Background()
	var want []string
	for _, last := range []string{"a", "b", "c"} {
		name := strings.Repeat("\U0001F600", web.MaxNameLen-1) + last
		want = append(want, name)
		if _, err := svc.Create(ctx, web.NewItem{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := web.ListQuery{Limit: 1}
	for range len(want) + 1 {
		page, err := svc.List(ctx, q)
		if err != nil {
			t.Fatalf("List with a token of %d bytes: %v", len(q.PageToken), err)
		}
		for _, it := range page.Items {
			got = append(got, it.Name)
		}
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d items, want all %d in order", len(got), len(want))
	}
}

func TestListEmptyIsNotNil(t *testing.T) {
	page, err := web.NewService(newMemRepo()).List(context.Background(), web.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Items == nil || len(page.Items) != 0 || page.NextPageToken != "" {
		t.Errorf("empty list = %#v, want an empty, non-nil page without a token", page)
	}
}

func TestListValidation(t *testing.T) {
	token := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name       string
		q          web.ListQuery
		wantFields []string // nil: valid
		wantLimit  int      // the limit the repository is asked for (one more than the page)
	}{
		{"default limit", web.ListQuery{}, nil, web.DefaultPageSize + 1},
		{"largest page", web.ListQuery{Limit: web.MaxPageSize}, nil, web.MaxPageSize + 1},
		{"negative limit", web.ListQuery{Limit: -1}, []string{"limit"}, 0},
		{"limit too high", web.ListQuery{Limit: web.MaxPageSize + 1}, []string{"limit"}, 0},
		{"token not base64", web.ListQuery{PageToken: "%%%"}, []string{"page_token"}, 0},
		{"token without version", web.ListQuery{PageToken: token("Blue widget")}, []string{"page_token"}, 0},
		{"token with a bad name", web.ListQuery{PageToken: paging.Encode(" padded ")}, []string{"page_token"}, 0},
		{"token with two fields", web.ListQuery{PageToken: paging.Encode("a", "b")}, []string{"page_token"}, 0},
		{"token of a name", web.ListQuery{PageToken: paging.Encode("Blue widget")}, nil, web.DefaultPageSize + 1},
		{"token too long", web.ListQuery{PageToken: strings.Repeat("A", 2000)}, []string{"page_token"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newMemRepo()
			_, err := web.NewService(repo).List(context.Background(), tt.q)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if got := repo.lists[0].Limit; got != tt.wantLimit {
					t.Errorf("repository limit = %d, want %d", got, tt.wantLimit)
				}
				return
			}
			if got := fieldNames(err); !errs.Is(err, errs.Invalid) || !slices.Equal(got, tt.wantFields) {
				t.Errorf("List error = %v with fields %v, want invalid %v", err, got, tt.wantFields)
			}
			if got := repo.callCount(); got != 0 {
				t.Errorf("repository called %d times for an invalid query, want 0", got)
			}
		})
	}
}
