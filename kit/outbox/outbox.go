package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Channel is the LISTEN/NOTIFY channel Schema's trigger notifies on commit.
const Channel = "outbox"

// Schema creates the outbox table, its index of unpublished rows and the
// trigger that wakes the relay. Copy it into one of the service's goose
// migrations (-- +goose StatementBegin/End around the function body).
//
// seq orders events; published_at is set by the relay once JetStream has
// acknowledged the event. Published rows stay for inspection until the
// relay deletes them (WithRetention).
const Schema = `
CREATE TABLE outbox (
    id           uuid PRIMARY KEY,
    aggregate    text NOT NULL CHECK (aggregate <> ''),
    subject      text NOT NULL CHECK (subject <> ''),
    type         text NOT NULL CHECK (type <> ''),
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    seq          bigserial NOT NULL UNIQUE
);

CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
`

// Event is one domain event.
type Event struct {
	// ID identifies the event; it becomes the message's Nats-Msg-Id, so
	// JetStream drops a second publish of it.
	ID uuid.UUID
	// Aggregate names the entity the event is about ("order/42"); events
	// of one aggregate are published in the order they were added.
	Aggregate string
	// Subject is the NATS subject to publish on; a stream must capture it.
	Subject string
	// Type names the kind of event ("order.placed"); it is sent in the
	// TypeHeader header so consumers can dispatch without decoding.
	Type string
	// Payload is the message body.
	Payload []byte
}

// Headers set on every published message besides Nats-Msg-Id.
const (
	TypeHeader      = "Kitshop-Event-Type"
	AggregateHeader = "Kitshop-Aggregate"
)

// Add writes events into the outbox in tx, the transaction that makes the
// change they report: they are published if and only if tx commits.
func Add(ctx context.Context, tx pgx.Tx, events ...Event) error {
	for _, e := range events {
		if err := e.validate(); err != nil {
			return err
		}
	}
	for _, e := range events {
		if _, err := tx.Exec(ctx, insert, e.ID, e.Aggregate, e.Subject, e.Type, payloadOf(e)); err != nil {
			return fmt.Errorf("outbox: add %s: %w", e.ID, err)
		}
	}
	return nil
}

// Queue queues the inserts of events on b, a batch sent inside the
// transaction that makes the change they report (a kit/postgres.Pipeline's
// Commit): the events are published if and only if it commits.
func Queue(b *pgx.Batch, events ...Event) error {
	for _, e := range events {
		if err := e.validate(); err != nil {
			return err
		}
	}
	for _, e := range events {
		b.Queue(insert, e.ID, e.Aggregate, e.Subject, e.Type, payloadOf(e))
	}
	return nil
}

const insert = `INSERT INTO outbox (id, aggregate, subject, type, payload) VALUES ($1, $2, $3, $4, $5)`

// payloadOf returns a non-nil payload: the column is NOT NULL, and an empty
// body is a valid event.
func payloadOf(e Event) []byte {
	if e.Payload == nil {
		return []byte{}
	}
	return e.Payload
}

func (e Event) validate() error {
	switch {
	case e.ID == uuid.Nil:
		return errors.New("outbox: event without an id")
	case e.Aggregate == "":
		return fmt.Errorf("outbox: event %s without an aggregate", e.ID)
	case e.Subject == "":
		return fmt.Errorf("outbox: event %s without a subject", e.ID)
	case e.Type == "":
		return fmt.Errorf("outbox: event %s without a type", e.ID)
	}
	return nil
}
