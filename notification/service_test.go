package notification_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/notification"
)

// newService returns the real service on a fresh database and a handler
// that makes notifications in it.
func newService(t *testing.T) (notification.Service, *notification.EventHandler) {
	t.Helper()
	store, _ := newStore(t)
	return notification.NewService(store), newHandler(t, store)
}

// listAll walks every page of q for ctx's caller and returns the event
// ids, in the order listed, and the pages' unread counts.
func listAll(t *testing.T, svc notification.Service, ctx context.Context, q notification.ListQuery) (ids []string, unread []int64) {
	t.Helper()
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("more pages than notifications")
		}
		page, err := svc.List(ctx, q)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, n := range page.Notifications {
			ids = append(ids, n.EventID)
		}
		unread = append(unread, page.UnreadCount)
		if q.PageToken = page.NextPageToken; q.PageToken == "" {
			return ids, unread
		}
	}
}

// TestListPagesNewestFirst walks the pages: every notification once, newest
// first, only the caller's, with the same unread count on every page.
func TestListPagesNewestFirst(t *testing.T) {
	svc, h := newService(t)
	ada, bob := uuid.NewString(), uuid.NewString()
	adas := seed(t, h, ada, 7)
	seed(t, h, bob, 2)
	slices.Reverse(adas)

	ids, unread := listAll(t, svc, as(ada), notification.ListQuery{Limit: 3})
	if !slices.Equal(ids, adas) {
		t.Errorf("listed %v\nwant   %v", ids, adas)
	}
	if !slices.Equal(unread, []int64{7, 7, 7}) {
		t.Errorf("unread counts per page = %v, want 7 on each of 3 pages", unread)
	}
	page, err := svc.List(as(ada), notification.ListQuery{})
	if err != nil || len(page.Notifications) != 7 || page.NextPageToken != "" {
		t.Errorf("default page: %d notifications, token %q, %v", len(page.Notifications), page.NextPageToken, err)
	}
	n := page.Notifications[0]
	if n.UserID != ada || n.Kind != notification.KindOrderPaid || n.OrderID == "" || n.Read() || n.CreatedAt.Location() != time.UTC {
		t.Errorf("newest = %+v", n)
	}
	empty, err := svc.List(as(uuid.NewString()), notification.ListQuery{})
	if err != nil || empty.Notifications == nil || len(empty.Notifications) != 0 || empty.UnreadCount != 0 {
		t.Errorf("a user without notifications: %+v, %v", empty, err)
	}
}

func TestMarkRead(t *testing.T) {
	svc, h := newService(t)
	ada, bob := uuid.NewString(), uuid.NewString()
	seed(t, h, ada, 5)
	bobs := seed(t, h, bob, 1)
	page, err := svc.List(as(ada), notification.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	first := page.Notifications[1]

	read, err := svc.MarkRead(as(ada), first.ID)
	if err != nil || !read.Read() || read.ID != first.ID || read.ReadAt.Location() != time.UTC {
		t.Fatalf("MarkRead = %+v, %v", read, err)
	}
	time.Sleep(5 * time.Millisecond)
	again, err := svc.MarkRead(as(ada), first.ID)
	if err != nil || !again.ReadAt.Equal(read.ReadAt) {
		t.Errorf("MarkRead again: read_at %v, want the first %v (%v)", again.ReadAt, read.ReadAt, err)
	}

	unread, _ := listAll(t, svc, as(ada), notification.ListQuery{UnreadOnly: true, Limit: 2})
	if len(unread) != 4 || slices.Contains(unread, first.EventID) {
		t.Errorf("unread = %v: want the 4 others", unread)
	}
	if p, _ := svc.List(as(ada), notification.ListQuery{}); p.UnreadCount != 4 {
		t.Errorf("unread count = %d, want 4", p.UnreadCount)
	}

	// Bob's notification is not Ada's to read: NotFound, as for an unknown
	// id, and it stays unread.
	bobsPage, _ := svc.List(as(bob), notification.ListQuery{})
	if bobsPage.Notifications[0].EventID != bobs[0] {
		t.Fatal("bob's notification not found")
	}
	for name, id := range map[string]string{"another user's": bobsPage.Notifications[0].ID, "unknown": uuid.NewString()} {
		if _, err := svc.MarkRead(as(ada), id); !errs.Is(err, errs.NotFound) {
			t.Errorf("MarkRead(%s) error = %v, want not_found", name, err)
		}
	}
	if p, _ := svc.List(as(bob), notification.ListQuery{}); p.UnreadCount != 1 {
		t.Errorf("bob's unread count = %d, want 1", p.UnreadCount)
	}
	// Admins see and mark only their own, too.
	if _, err := svc.MarkRead(as(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin), first.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("MarkRead by an admin: %v, want not_found", err)
	}

	n, err := svc.MarkAllRead(as(ada))
	if err != nil || n != 4 {
		t.Errorf("MarkAllRead = %d, %v; want 4", n, err)
	}
	if n, err := svc.MarkAllRead(as(ada)); err != nil || n != 0 {
		t.Errorf("MarkAllRead again = %d, %v; want 0", n, err)
	}
	if p, _ := svc.List(as(bob), notification.ListQuery{}); p.UnreadCount != 1 {
		t.Errorf("bob's unread count after ada's read-all = %d, want 1", p.UnreadCount)
	}
}

func TestServiceRefuses(t *testing.T) {
	svc, _ := newService(t)
	ada := as(uuid.NewString())
	tests := []struct {
		name       string
		call       func() error
		want       errs.Kind
		wantFields []string
	}{
		{"list without a caller", func() error { _, err := svc.List(context.Background(), notification.ListQuery{}); return err }, errs.Unauthenticated, nil},
		{"mark without a caller", func() error { _, err := svc.MarkRead(context.Background(), uuid.NewString()); return err }, errs.Unauthenticated, nil},
		{"read-all without a caller", func() error { _, err := svc.MarkAllRead(context.Background()); return err }, errs.Unauthenticated, nil},
		{"a service account", func() error {
			_, err := svc.List(as(auth.ServiceSubject("order"), auth.RoleService), notification.ListQuery{})
			return err
		}, errs.Forbidden, nil},
		{"limit too large", func() error { _, err := svc.List(ada, notification.ListQuery{Limit: 101}); return err }, errs.Invalid, []string{"limit"}},
		{"negative limit", func() error { _, err := svc.List(ada, notification.ListQuery{Limit: -1}); return err }, errs.Invalid, []string{"limit"}},
		{"forged page token", func() error {
			_, err := svc.List(ada, notification.ListQuery{PageToken: "djEfMTIzH25vcGU"})
			return err
		}, errs.Invalid, []string{"page_token"}},
		{"both bad", func() error { _, err := svc.List(ada, notification.ListQuery{Limit: 1000, PageToken: "x"}); return err }, errs.Invalid, []string{"limit", "page_token"}},
		{"malformed id", func() error { _, err := svc.MarkRead(ada, "42"); return err }, errs.Invalid, []string{"id"}},
		{"id with braces", func() error { _, err := svc.MarkRead(ada, "{0b7e9d3c-8a44-4b8f-9f4e-3c2b1a0d9e8f}"); return err }, errs.Invalid, []string{"id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errs.Is(err, tt.want) {
				t.Fatalf("error = %v, want %s", err, tt.want)
			}
			var got []string
			for _, f := range errs.FieldsOf(err) {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}
