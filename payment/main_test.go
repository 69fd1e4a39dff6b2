package payment_test

import (
	"context"
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
	"github.com/kitshop/kitshop/payment"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// newPool returns a pool on a fresh, migrated database of the shared test
// Postgres; the pool is closed when the test ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	t.Cleanup(pool.Close)
	fsys, err := migrations.For("payment")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, fsys); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return pool
}

// fixture is the real service on a fresh database, charging through a
// simulated provider without delays (unless slow is set).
type fixture struct {
	pool     *pgxpool.Pool
	repo     *payment.Postgres
	provider *payment.Simulated
	svc      payment.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, payment.SimulatedOptions{SlowDelay: -1}, nil)
}

// newFixtureWith builds the fixture with the provider's options, and wraps
// the provider with wrap unless it is nil.
func newFixtureWith(t *testing.T, o payment.SimulatedOptions, wrap func(payment.Provider) payment.Provider) *fixture {
	t.Helper()
	f := &fixture{pool: newPool(t), provider: payment.NewSimulatedProvider(o)}
	f.repo = payment.NewPostgres(f.pool)
	var p payment.Provider = f.provider
	if wrap != nil {
		p = wrap(p)
	}
	f.svc = payment.NewService(f.repo, p)
	return f
}

// newOrder returns an order of a new user, paid with method.
func newOrder(method string) payment.Order {
	return payment.Order{ID: uuid.NewString(), UserID: uuid.NewString(), TotalMinor: 2500, Currency: "EUR", PaymentMethod: method}
}

// event returns an event about o with a new id.
func event(o payment.Order) payment.OrderEvent {
	return payment.OrderEvent{EventID: uuid.NewString(), Order: o}
}

// outboxEvent is one row of the outbox, decoded.
type outboxEvent struct {
	Aggregate, Subject string
	Message            events.Message
}

// outboxEvents returns the outbox, in order.
func outboxEvents(t *testing.T, pool *pgxpool.Pool) []outboxEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT aggregate, subject, payload FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxEvent
	for rows.Next() {
		var (
			e       outboxEvent
			payload []byte
		)
		if err := rows.Scan(&e.Aggregate, &e.Subject, &payload); err != nil {
			t.Fatal(err)
		}
		if e.Message, err = events.Unmarshal(payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// count returns the result of a count(*) query.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// protoEqual reports whether two messages are equal.
func protoEqual(a, b proto.Message) bool { return proto.Equal(a, b) }

// callers holds a token per kind of caller, all from one signer.
type callers struct {
	signer   *authtest.Signer
	admin    string // role admin (and customer, as the user service grants)
	owner    string // the customer ownerID
	stranger string // another customer
	ownerID  string
}

func newCallers(t *testing.T) callers {
	t.Helper()
	s := authtest.NewSigner(t)
	owner := uuid.NewString()
	return callers{
		signer:   s,
		admin:    s.Token(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin),
		owner:    s.Token(owner, auth.RoleCustomer),
		stranger: s.Token(uuid.NewString(), auth.RoleCustomer),
		ownerID:  owner,
	}
}
