package notification_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/notification"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// newStore returns the storage on a fresh, migrated database of the shared
// test Postgres, and its pool, closed when the test ends.
func newStore(t *testing.T) (*notification.Postgres, *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	t.Cleanup(pool.Close)
	fsys, err := migrations.For("notification")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, fsys); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return notification.NewPostgres(pool), pool
}

// newHandler returns an event handler on store with the embedded templates.
func newHandler(t *testing.T, store notification.EventStore, opts ...notification.HandlerOption) *notification.EventHandler {
	t.Helper()
	tmpl, err := notification.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return notification.NewEventHandler(store, tmpl, opts...)
}

// as returns a context whose caller is the user with id and roles, as
// auth.Authenticate would leave it.
func as(id string, roles ...string) context.Context {
	if len(roles) == 0 {
		roles = []string{auth.RoleCustomer}
	}
	return auth.NewContext(context.Background(), auth.Identity{UserID: id, Roles: roles})
}

// message returns an event as events.Decode would: a new id, subject as its
// type.
func message(subject string, data proto.Message) events.Message {
	return events.Message{ID: uuid.NewString(), Source: "test", Type: subject, Subject: "test/1", Time: time.Now(), Data: data}
}

// The ids the samples are about.
const (
	sampleOrderID = "1a2b3c4d-0000-4000-8000-000000000001"
	sampleEmail   = "ada@example.com"
)

// sample is one event of each type the service handles, and the
// notification it must make.
type sample struct {
	kind             notification.Kind
	subject          string
	data             proto.Message
	orderID          string
	wantTitle, wantB string
}

func order(userID string) *orderv1.Order {
	return &orderv1.Order{Id: sampleOrderID, UserId: userID, TotalMinor: 2500, Currency: "EUR",
		Items: []*orderv1.OrderItem{{Quantity: 2}, {Quantity: 1}}}
}

// samples returns one event of every type for userID, the registration
// first, so that the others find the recipient.
func samples(userID string) []sample {
	return []sample{
		{notification.KindWelcome, userv1.SubjectRegistered,
			&userv1.UserRegistered{UserId: userID, Email: sampleEmail, Name: "Ada"}, "",
			"Welcome to kitshop, Ada", "Your account is ready. We will keep you posted here on your orders and payments."},
		{notification.KindOrderConfirmed, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: order(userID)}, sampleOrderID,
			"Order 1a2b3c4d confirmed", "Your order 1a2b3c4d of 3 items for 25.00 EUR is confirmed: the stock is reserved for you."},
		{notification.KindOrderRejected, orderv1.SubjectRejected,
			&orderv1.OrderRejected{Order: order(userID), Reason: "only 2 left of SKU-1"}, sampleOrderID,
			"Order 1a2b3c4d could not be placed", "We could not reserve the stock for your order 1a2b3c4d (only 2 left of SKU-1). Nothing was charged."},
		{notification.KindOrderCancelled, orderv1.SubjectCancelled,
			&orderv1.OrderCancelled{Order: order(userID), PreviousStatus: "paid", Reason: "customer"}, sampleOrderID,
			"Order 1a2b3c4d cancelled", "Your order 1a2b3c4d for 25.00 EUR is cancelled as you asked. Your payment of 25.00 EUR will be refunded."},
		{notification.KindOrderPaid, orderv1.SubjectPaid, &orderv1.OrderPaid{Order: order(userID), PaymentId: "p1"}, sampleOrderID,
			"Order 1a2b3c4d paid", "We received your payment of 25.00 EUR for order 1a2b3c4d. Thank you!"},
		{notification.KindOrderPaymentFailed, orderv1.SubjectPaymentFailed,
			&orderv1.OrderPaymentFailed{Order: order(userID), DeclineCode: "card_declined", Message: "Your card was declined."}, sampleOrderID,
			"Payment for order 1a2b3c4d failed", "Your payment of 25.00 EUR for order 1a2b3c4d was declined (Your card was declined). The order is cancelled and nothing was charged."},
		{notification.KindPaymentRefunded, paymentv1.SubjectRefunded,
			&paymentv1.PaymentRefunded{PaymentId: "p1", OrderId: sampleOrderID, UserId: userID, AmountMinor: 2500, Currency: "EUR"}, sampleOrderID,
			"Refund for order 1a2b3c4d", "We refunded 25.00 EUR for your order 1a2b3c4d. It may take a few days to show on your statement."},
	}
}

// seed makes n order-paid notifications for userID, one event each, and
// returns their event ids, oldest first.
func seed(t *testing.T, h *notification.EventHandler, userID string, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		o := order(userID)
		o.Id = uuid.NewString()
		m := message(orderv1.SubjectPaid, &orderv1.OrderPaid{Order: o})
		if err := h.Handle(context.Background(), m); err != nil {
			t.Fatalf("seeding: %v", err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// callers holds a token per kind of caller, all from one signer.
type callers struct {
	signer                *authtest.Signer
	ada, bob              string // user ids
	customer, otherUser   string // ada's and bob's tokens (customers)
	admin, serviceAccount string // an admin (with no notifications), the order service
}

func newCallers(t *testing.T) callers {
	t.Helper()
	s := authtest.NewSigner(t)
	c := callers{signer: s, ada: uuid.NewString(), bob: uuid.NewString()}
	c.customer = s.Token(c.ada, auth.RoleCustomer)
	c.otherUser = s.Token(c.bob, auth.RoleCustomer)
	c.admin = s.Token(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin)
	c.serviceAccount = s.Token(auth.ServiceSubject("order"), auth.RoleService)
	return c
}

// wakeCounter counts the wake-ups a handler sends.
type wakeCounter struct {
	mu sync.Mutex
	n  int
}

func (w *wakeCounter) wake() { w.mu.Lock(); w.n++; w.mu.Unlock() }

func (w *wakeCounter) count() int { w.mu.Lock(); defer w.mu.Unlock(); return w.n }
