package user

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

// Source names the account service in its events' envelopes.
const Source = "user"

// EventStream is the stream the account service publishes its events on
// (kit/app's Publish creates it).
var EventStream = events.StreamConfig{Name: userv1.Stream, Subjects: []string{userv1.StreamSubjects}}

// addRegistered adds the user.registered event of the account u, just
// created in tx, to the outbox: it is published if and only if tx commits.
// Its aggregate is "user/<id>".
func addRegistered(ctx context.Context, tx pgx.Tx, u User) error {
	e, err := events.New(ctx, Source, userv1.SubjectRegistered, "user/"+u.ID,
		&userv1.UserRegistered{UserId: u.ID, Email: u.Email, Name: u.Name})
	if err != nil {
		return errs.Wrap(err, errs.Internal, "building the user.registered event") // a bug, not the database
	}
	return outbox.Add(ctx, tx, e)
}
