package subscriber

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// InboxSchema creates the inbox table Once records handled events in. Copy
// it into one of the consuming service's goose migrations, as with
// outbox.Schema.
//
// event_id alone is the key, so a database records each event once: one
// handler per event per database. consumer names the handler that took the
// event, for inspection.
const InboxSchema = `
CREATE TABLE inbox (
    event_id   text PRIMARY KEY CHECK (event_id <> ''),
    consumer   text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
`

// Once records in tx that consumer handled the event eventID, and reports
// whether this is the first time. Call it first in the transaction that
// makes the event's effect, and make the effect only when first is true:
// the inbox row and the effect commit together or not at all, so a
// redelivered event — JetStream delivers at least once — finds the row
// and changes nothing, and an event whose transaction rolled back is
// handled afresh.
//
// A concurrent delivery of the same event waits on the row lock until the
// first transaction ends, then sees first == false (or first == true if
// the other rolled back).
func Once(ctx context.Context, tx pgx.Tx, consumer, eventID string) (first bool, err error) {
	if eventID == "" {
		return false, errors.New("subscriber: inbox: event without an id")
	}
	tag, err := tx.Exec(ctx, insertInbox, eventID, consumer)
	if err != nil {
		return false, fmt.Errorf("subscriber: inbox %s: %w", eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// QueueOnce is Once for a transaction sent in batches (kit/postgres's
// Pipeline): it queues the inbox row on b, and once the batch has run,
// *first tells whether this is the first time. Send the batch, and check
// *first, before queuing the effect.
func QueueOnce(b *pgx.Batch, consumer, eventID string, first *bool) {
	*first = false
	// An empty id fails the table's CHECK, as Once refuses it.
	b.Queue(insertInbox, eventID, consumer).Exec(func(tag pgconn.CommandTag) error {
		*first = tag.RowsAffected() == 1
		return nil
	})
}

const insertInbox = `INSERT INTO inbox (event_id, consumer) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`
