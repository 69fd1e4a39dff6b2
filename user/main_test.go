package user_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/user"
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
	fsys, err := migrations.For("user")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, fsys); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return pool
}

// newSigner returns a Signer with a fresh key and the default claims.
func newSigner(t *testing.T) *user.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := user.NewSigner(key, "", "", user.DefaultAccessTTL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is the real service on a fresh database, with the fast bcrypt
// cost and a clock the test controls.
type fixture struct {
	svc    user.Service
	signer *user.Signer
	pool   *pgxpool.Pool
	clock  *clock
}

// newFixture builds a fixture; opts come after the fixture's own, so they
// win.
func newFixture(t *testing.T, opts ...user.Option) *fixture {
	t.Helper()
	f := &fixture{signer: newSigner(t), pool: newPool(t), clock: &clock{now: time.Now()}}
	opts = append([]user.Option{user.WithBcryptCost(bcrypt.MinCost), user.WithClock(f.clock.Now)}, opts...)
	svc, err := user.NewService(user.NewPostgres(f.pool), f.signer, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// signUp creates an account with password "correct horse" and fails the
// test on error.
func (f *fixture) signUp(t *testing.T, email string) user.User {
	t.Helper()
	u, err := f.svc.SignUp(context.Background(), user.NewUser{Email: email, Password: testPassword, Name: "Ann Example"})
	if err != nil {
		t.Fatalf("SignUp(%s): %v", email, err)
	}
	return u
}

// login logs in with testPassword and fails the test on error.
func (f *fixture) login(t *testing.T, email string) user.TokenPair {
	t.Helper()
	p, err := f.svc.Login(context.Background(), user.Credentials{Email: email, Password: testPassword, ClientIP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("Login(%s): %v", email, err)
	}
	return p
}

// as returns a context whose caller is the user with id and roles, as
// auth.Authenticate would leave it.
func as(id string, roles ...string) context.Context {
	return auth.NewContext(context.Background(), auth.Identity{UserID: id, Roles: roles})
}

const testPassword = "correct horse"

// clock is a settable time source for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func ptr[T any](v T) *T { return &v }

// fieldNames returns the fields an Invalid error names, in order.
func fieldNames(err error) []string {
	var names []string
	for _, f := range errs.FieldsOf(err) {
		names = append(names, f.Field)
	}
	return names
}
