package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kitshop/kitshop/kit/errs"
)

// Classifier turns what pgx returns into the errs vocabulary, the same way
// for every Repository: a missing row, a constraint the schema enforces,
// a database that is out, and everything else, which is a bug.
type Classifier struct {
	// NotFound is returned for pgx.ErrNoRows.
	NotFound error
	// Unique maps a unique constraint to the Conflict it means for a
	// client, with the field it concerns.
	Unique map[string]errs.FieldError
	// UniqueMessage is the client-safe message of those Conflicts.
	UniqueMessage string
	// CheckPrefix is stripped, with the "_check" suffix, from a violated
	// CHECK constraint's name to name the field ("widgets_weight_check"
	// is field "weight"); CheckMessage is the field's message.
	CheckPrefix, CheckMessage string
	// Unavailable is the client-safe message of the 503 for a database that
	// cannot be reached (see Unreachable).
	Unavailable string
}

// Classify returns err as an *errs.Error; op names the failed operation in
// the Internal errors, whose cause is only logged.
func (c Classifier) Classify(err error, op string) error {
	var e *errs.Error
	switch {
	case errors.Is(err, pgx.ErrNoRows) && c.NotFound != nil:
		return c.NotFound
	case errors.As(err, &e):
		return err
	}
	if constraint, ok := UniqueViolation(err); ok {
		if f, known := c.Unique[constraint]; known {
			return &errs.Error{Kind: errs.Conflict, Message: c.UniqueMessage, Fields: []errs.FieldError{f}, Err: err}
		}
		return errs.Wrap(err, errs.Internal, op) // a constraint nothing expects: a bug
	}
	if constraint, ok := CheckViolation(err); ok && c.CheckPrefix != "" {
		field := strings.TrimSuffix(strings.TrimPrefix(constraint, c.CheckPrefix), "_check")
		return &errs.Error{Kind: errs.Invalid, Message: "invalid input",
			Fields: []errs.FieldError{{Field: field, Message: c.CheckMessage}}, Err: err}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return errs.Wrap(err, errs.Internal, op)
	}
	return Unreachable(err, c.Unavailable)
}
