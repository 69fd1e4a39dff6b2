package web_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/web"
)

func TestPostgresCreateGet(t *testing.T) {
	svc, _ := newPostgresService(t)
	ctx := context.Background()

	before := time.Now().Add(-time.Minute)
	created, err := svc.Create(ctx, web.NewItem{Name: " Blue widget ", Description: "The blue one", Quantity: 12})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := uuid.Parse(created.ID); err != nil {
		t.Errorf("id %q is not a UUID", created.ID)
	}
	want := web.Item{
		ID: created.ID, Name: "Blue widget", Description: "The blue one", Quantity: 12,
		CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt,
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

func TestPostgresDuplicateName(t *testing.T) {
	svc, _ := newPostgresService(t)
	ctx := context.Background()
	if _, err := svc.Create(ctx, web.NewItem{Name: "Blue widget"}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Create(ctx, web.NewItem{Name: "Blue widget", Quantity: 3})
	if !errs.Is(err, errs.Conflict) {
		t.Fatalf("Create(duplicate) error = %v, want conflict", err)
	}
	if got := fieldNames(err); !slices.Equal(got, []string{"name"}) {
		t.Errorf("conflict fields = %v, want [name]", got)
	}
}

// TestPostgresListPages walks every page and checks that the keyset
// pagination returns each item once, in name order.
func TestPostgresListPages(t *testing.T) {
	svc, _ := newPostgresService(t)
	ctx := context.Background()
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("item %02d", i)
		want = append(want, name)
		if _, err := svc.Create(ctx, web.NewItem{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := web.ListQuery{Limit: 3}
	for pages := 1; ; pages++ {
		page, err := svc.List(ctx, q)
		if err != nil {
			t.Fatalf("List page %d: %v", pages, err)
		}
		for _, it := range page.Items {
			got = append(got, it.Name)
		}
		if page.NextPageToken == "" {
			if pages != 3 {
				t.Errorf("%d pages of 3 for 7 items, want 3", pages)
			}
			break
		}
		if pages > 3 {
			t.Fatal("more pages than there are items")
		}
		q.PageToken = page.NextPageToken
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}

// TestPostgresSchemaChecks writes straight to the table, past the
// service's validation: the schema refuses what the service would, and the
// repository reports it as the service's own errors.
func TestPostgresSchemaChecks(t *testing.T) {
	_, pool := newPostgresService(t)
	repo := web.NewPostgres(pool)
	ctx := context.Background()
	tests := []struct {
		name      string
		item      web.NewItem
		wantField string
	}{
		{"negative quantity", web.NewItem{Name: "a", Quantity: -1}, "quantity"},
		{"untrimmed name", web.NewItem{Name: " a"}, "name"},
		{"empty name", web.NewItem{Name: ""}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := repo.Create(ctx, tt.item)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("Create error = %v, want invalid", err)
			}
			if got := fieldNames(err); !slices.Equal(got, []string{tt.wantField}) {
				t.Errorf("fields = %v, want [%s]", got, tt.wantField)
			}
		})
	}
}
