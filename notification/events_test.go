package notification_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/notification"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

// count returns the result of a count(*) query.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestEachEventMakesOneNotification delivers every event type twice in a
// row and then four times at once, as JetStream may after lost acks or to
// several instances: each makes exactly one notification, rendered from its
// template, and one email.
func TestEachEventMakesOneNotification(t *testing.T) {
	store, pool := newStore(t)
	var woken wakeCounter
	h := newHandler(t, store, notification.WithEmails(woken.wake))
	userID := uuid.NewString()
	ctx := context.Background()
	for i, s := range samples(userID) {
		t.Run(string(s.kind), func(t *testing.T) {
			m := message(s.subject, s.data)
			for range 2 {
				if err := h.Handle(ctx, m); err != nil {
					t.Fatalf("Handle: %v", err)
				}
			}
			var wg sync.WaitGroup
			errc := make(chan error, 4)
			for range 4 {
				wg.Go(func() { errc <- h.Handle(ctx, m) })
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil {
					t.Errorf("concurrent Handle: %v", err)
				}
			}
			var got notification.Notification
			var orderID *string
			if err := pool.QueryRow(ctx, `SELECT user_id::text, kind, title, body, order_id::text FROM notifications WHERE event_id = $1`, m.ID).
				Scan(&got.UserID, &got.Kind, &got.Title, &got.Body, &orderID); err != nil {
				t.Fatalf("the notification: %v", err)
			}
			if got.UserID != userID || got.Kind != s.kind || got.Title != s.wantTitle || got.Body != s.wantB {
				t.Errorf("notification = %+v\nwant kind %s, title %q, body %q", got, s.kind, s.wantTitle, s.wantB)
			}
			if (orderID == nil) != (s.orderID == "") || orderID != nil && *orderID != s.orderID {
				t.Errorf("order_id = %v, want %q", orderID, s.orderID)
			}
			if n := count(t, pool, `SELECT count(*) FROM notifications`); n != i+1 {
				t.Errorf("%d notifications after %d events", n, i+1)
			}
			if n := count(t, pool, `SELECT count(*) FROM emails e JOIN notifications n ON n.id = e.notification_id WHERE n.event_id = $1`, m.ID); n != 1 {
				t.Errorf("%d emails queued, want 1", n)
			}
			if n := woken.count(); n != i+1 {
				t.Errorf("the sender was woken %d times after %d emails", n, i+1)
			}
		})
	}
}

func TestRegisteredStoresTheRecipient(t *testing.T) {
	store, pool := newStore(t)
	h := newHandler(t, store)
	userID := uuid.NewString()
	ctx := context.Background()
	recipient := func() (email, name string) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT email, name FROM recipients WHERE user_id = $1`, userID).Scan(&email, &name); err != nil {
			t.Fatal(err)
		}
		return email, name
	}
	if err := h.Handle(ctx, message(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: "ada@example.com", Name: " Ada Lovelace "})); err != nil {
		t.Fatal(err)
	}
	if email, name := recipient(); email != "ada@example.com" || name != "Ada Lovelace" {
		t.Errorf("recipient = %q, %q", email, name)
	}
	// A later event about the same user (a replayed stream, say) updates
	// the address rather than failing.
	if err := h.Handle(ctx, message(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: "ada@example.org"})); err != nil {
		t.Fatal(err)
	}
	if email, name := recipient(); email != "ada@example.org" || name != "" {
		t.Errorf("recipient after the second event = %q, %q", email, name)
	}
	var title string
	if err := pool.QueryRow(ctx, `SELECT title FROM notifications ORDER BY created_at DESC LIMIT 1`).Scan(&title); err != nil || title != "Welcome to kitshop" {
		t.Errorf("welcome without a name: %q, %v", title, err)
	}
}

// TestEventsBreakingTheirContractAreRejected: an event the service cannot
// make sense of is errs.Invalid (kit/subscriber acks it and counts it as
// rejected) and leaves no trace, not even in the inbox.
func TestEventsBreakingTheirContractAreRejected(t *testing.T) {
	store, pool := newStore(t)
	h := newHandler(t, store, notification.WithEmails(nil))
	userID := uuid.NewString()
	good := order(userID)
	with := func(f func(o *orderv1.Order)) *orderv1.Order {
		o := proto.Clone(good).(*orderv1.Order)
		f(o)
		return o
	}
	tests := []struct {
		name       string
		msg        func() events.Message
		wantFields []string
	}{
		{"user id not a UUID", subj(orderv1.SubjectPaid, &orderv1.OrderPaid{Order: with(func(o *orderv1.Order) { o.UserId = "service:order" })}), []string{"order.user_id"}},
		{"no order", subj(orderv1.SubjectPaid, &orderv1.OrderPaid{}), []string{"order.user_id", "order.id", "order.currency"}},
		{"negative total", subj(orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: with(func(o *orderv1.Order) { o.TotalMinor = -1 })}), []string{"order.total_minor"}},
		{"bad currency", subj(paymentv1.SubjectRefunded, &paymentv1.PaymentRefunded{OrderId: sampleOrderID, UserId: userID, Currency: "eur"}), []string{"currency"}},
		{"not an address", subj(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: "ada"}), []string{"email"}},
		{"address with a display name", subj(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: "Ada <ada@example.com>"}), []string{"email"}},
		{"address with a line break", subj(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: "ada@example.com\r\nBcc: x@example.com"}), []string{"email"}},
		{"name with a control character", subj(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: sampleEmail, Name: "Ada\x1b[31m"}), []string{"name"}},
		{"data of another type", subj(orderv1.SubjectConfirmed, &orderv1.OrderPaid{Order: good}), nil},
		{"a type not handled", subj(orderv1.SubjectPlaced, &orderv1.OrderPlaced{Order: good}), nil},
		{"a payment event not handled", subj(paymentv1.SubjectSucceeded, &paymentv1.PaymentSucceeded{OrderId: sampleOrderID, UserId: userID}), nil},
		{"event id not a UUID", func() events.Message {
			m := message(orderv1.SubjectPaid, &orderv1.OrderPaid{Order: good})
			m.ID = "42"
			return m
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Handle(context.Background(), tt.msg())
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("Handle error = %v, want invalid", err)
			}
			var got []string
			for _, f := range errs.FieldsOf(err) {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v (%v)", got, tt.wantFields, err)
			}
		})
	}
	for _, table := range []string{"inbox", "notifications", "recipients", "emails"} {
		if n := count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s after rejected events", n, table)
		}
	}
}

// subj returns a maker of a new message of data on subject.
func subj(subject string, data proto.Message) func() events.Message {
	return func() events.Message { return message(subject, data) }
}

// TestEmailsAreQueuedOnlyWhenWanted: without WithEmails nothing is queued;
// with it, only for users whose address is known.
func TestEmailsAreQueuedOnlyWhenWanted(t *testing.T) {
	store, pool := newStore(t)
	ctx := context.Background()
	known, unknown := uuid.NewString(), uuid.NewString()
	var woken wakeCounter
	inApp, withEmails := newHandler(t, store), newHandler(t, store, notification.WithEmails(woken.wake))

	if err := inApp.Handle(ctx, message(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: known, Email: sampleEmail})); err != nil {
		t.Fatal(err)
	}
	seed(t, inApp, known, 1)
	if n := count(t, pool, `SELECT count(*) FROM emails`); n != 0 {
		t.Errorf("%d emails queued without WithEmails", n)
	}
	seed(t, withEmails, unknown, 1)
	if n := count(t, pool, `SELECT count(*) FROM emails`); n != 0 || woken.count() != 0 {
		t.Errorf("%d emails queued (woken %d) for a user without an address", n, woken.count())
	}
	seed(t, withEmails, known, 1)
	if n := count(t, pool, `SELECT count(*) FROM emails`); n != 1 || woken.count() != 1 {
		t.Errorf("%d emails queued (woken %d) for a known user, want 1", n, woken.count())
	}
}

// TestEventTextsAreTamed: what an event says goes into a notification on
// one line, cut to size.
func TestEventTextsAreTamed(t *testing.T) {
	store, _ := newStore(t)
	h := newHandler(t, store)
	reason := "only 2 left\nof SKU-1\x00" + strings.Repeat("x", 1000)
	e, err := h.Effect(message(orderv1.SubjectRejected, &orderv1.OrderRejected{Order: order(uuid.NewString()), Reason: reason}))
	if err != nil {
		t.Fatal(err)
	}
	body := e.Notification.Body
	if strings.ContainsAny(body, "\n\x00") || !strings.Contains(body, "(only 2 left of SKU-1 xxx") || len([]rune(body)) > 300 {
		t.Errorf("body = %q", body)
	}
}
