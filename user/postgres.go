package user

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// Postgres is the Repository on a Postgres database migrated with
// migrations.For("user").
//
// Single-statement methods rely on Postgres running each statement
// atomically. Creating an account is a transaction: the insert and its
// user.registered event in the outbox (events.go). The refresh token state
// machine needs several statements and decisions in between;
// postgres_sessions.go says how it locks.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a Repository using pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

var _ Repository = (*Postgres)(nil)

const userColumns = `id::text, email, name, roles, created_at`

// CreateUser implements Repository, with the account's user.registered
// event. An email taken is a Conflict, and no event.
func (r *Postgres) CreateUser(ctx context.Context, a NewAccount) (User, error) {
	var u User
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (email, name, password_hash, roles)
			VALUES ($1, $2, $3, $4)
			RETURNING `+userColumns,
			a.Email, a.Name, a.PasswordHash, normalizeRoles(a.Roles)))
		if err != nil {
			return err
		}
		return addRegistered(ctx, tx, u)
	})
	if err != nil {
		return User{}, dbError(err, "creating user")
	}
	return u, nil
}

// EnsureAdmin implements Repository. The insert is one statement, so two
// instances bootstrapping the same admin at once cannot both insert: the
// loser finds the winner's account, which has the admin role. Only the
// instance that inserts adds the user.registered event, in the insert's
// transaction.
func (r *Postgres) EnsureAdmin(ctx context.Context, a NewAccount) (User, bool, error) {
	var u User
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (email, name, password_hash, roles)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT ((lower(email))) DO NOTHING
			RETURNING `+userColumns,
			a.Email, a.Name, a.PasswordHash, normalizeRoles(a.Roles)))
		if err != nil {
			return err // pgx.ErrNoRows: the account exists; nothing to commit
		}
		return addRegistered(ctx, tx, u)
	})
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return User{}, false, dbError(err, "ensuring admin")
	}
	acct, err := r.AccountByEmail(ctx, a.Email)
	if err != nil {
		return User{}, false, err
	}
	if !slices.Contains(acct.Roles, "admin") {
		// Whoever signed up with the admin's email first must not
		// become admin with a password of their choosing.
		return User{}, false, ErrAdminEmailTaken
	}
	return acct.User, false, nil
}

// AccountByEmail implements Repository. The lower() matches the unique
// index, so the lookup is an index scan.
func (r *Postgres) AccountByEmail(ctx context.Context, email string) (Account, error) {
	row := r.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`, email)
	a, err := scanAccount(row)
	if err != nil {
		return Account{}, dbError(err, "getting user by email")
	}
	return a, nil
}

// AccountByID implements Repository.
func (r *Postgres) AccountByID(ctx context.Context, id string) (Account, error) {
	row := r.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE id = $1`, id)
	a, err := scanAccount(row)
	if err != nil {
		return Account{}, dbError(err, "getting user")
	}
	return a, nil
}

// UpdateAccount implements Repository. Absent fields are NULL parameters
// and keep their value (COALESCE).
func (r *Postgres) UpdateAccount(ctx context.Context, id string, c AccountChange, now time.Time) (User, error) {
	var hash *string
	if c.PasswordHash != "" {
		hash = &c.PasswordHash
	}
	var u User
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `
			UPDATE users SET
				name          = COALESCE($2, name),
				password_hash = COALESCE($3, password_hash),
				updated_at    = now()
			WHERE id = $1
			RETURNING `+userColumns,
			id, c.Name, hash)
		var err error
		if u, err = scanUser(row); err != nil {
			return err
		}
		if hash == nil {
			return nil
		}
		// A new password ends every session: whoever knew the old one
		// may hold a refresh token.
		return revokeUserSessions(ctx, tx, id, now)
	})
	if err != nil {
		return User{}, dbError(err, "updating user")
	}
	return u, nil
}

// scanUser reads the userColumns of one row.
func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Roles, &u.CreatedAt)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	u.CreatedAt = u.CreatedAt.UTC()
	u.Roles = normalizeRoles(u.Roles)
	return u, err
}

// scanAccount reads the userColumns and the password hash of one row.
func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.Email, &a.Name, &a.Roles, &a.CreatedAt, &a.PasswordHash)
	a.CreatedAt = a.CreatedAt.UTC()
	a.Roles = normalizeRoles(a.Roles)
	return a, err
}

// dbErrors classifies the account database's errors (kit/postgres).
var dbErrors = postgres.Classifier{
	NotFound:      errNotFound,
	Unique:        map[string]errs.FieldError{"users_email_key": {Field: "email", Message: "already exists"}},
	UniqueMessage: "an account with this email already exists",
	CheckPrefix:   "users_", CheckMessage: "is not allowed",
	Unavailable: "user database unavailable",
}

func dbError(err error, op string) error { return dbErrors.Classify(err, op) }
