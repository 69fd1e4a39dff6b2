package postgres_test

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

func TestClassifier(t *testing.T) {
	notFound := errs.New(errs.NotFound, "widget not found")
	c := postgres.Classifier{
		NotFound:      notFound,
		Unique:        map[string]errs.FieldError{"widgets_name_key": {Field: "name", Message: "already exists"}},
		UniqueMessage: "a widget with this name already exists",
		CheckPrefix:   "widgets_", CheckMessage: "is out of range",
		Unavailable: "widget database unavailable",
	}
	own := errs.New(errs.Conflict, "already released")
	tests := []struct {
		name      string
		err       error
		wantKind  errs.Kind
		wantField string
	}{
		{"no rows", fmt.Errorf("get: %w", pgx.ErrNoRows), errs.NotFound, ""},
		{"known unique", &pgconn.PgError{Code: "23505", ConstraintName: "widgets_name_key"}, errs.Conflict, "name"},
		{"unexpected unique is a bug", &pgconn.PgError{Code: "23505", ConstraintName: "widgets_pkey"}, errs.Internal, ""},
		{"check names the field", &pgconn.PgError{Code: "23514", ConstraintName: "widgets_weight_check"}, errs.Invalid, "weight"},
		{"other server error", &pgconn.PgError{Code: "42P01"}, errs.Internal, ""},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errs.Unavailable, ""},
		{"already classified", own, errs.Conflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Classify(tt.err, "reading widgets")
			if errs.KindOf(got) != tt.wantKind {
				t.Fatalf("Classify = %v, want kind %v", got, tt.wantKind)
			}
			fields := errs.FieldsOf(got)
			if tt.wantField != "" && (len(fields) != 1 || fields[0].Field != tt.wantField) {
				t.Errorf("fields = %v, want %s", fields, tt.wantField)
			}
		})
	}
	if got := c.Classify(pgx.ErrNoRows, "x"); got != notFound {
		t.Errorf("no rows = %v, want the NotFound given", got)
	}
	if got := c.Classify(own, "x"); got != own {
		t.Errorf("an errs.Error = %v, want it unchanged", got)
	}
}
