package outboxtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/events"
)

// Event is one outbox row: its aggregate and subject columns, and its
// payload's envelope.
type Event struct {
	Aggregate, Subject string
	events.Message
}

// Reader reads the outbox of Pool's database.
type Reader struct {
	Pool    *pgxpool.Pool
	lastSeq int64
}

// Next returns the events added since the last call (since the start, the
// first time), in the order they were added. A payload that is not an
// envelope fails the test.
func (r *Reader) Next(t testing.TB) []Event {
	t.Helper()
	rows, err := r.Pool.Query(context.Background(),
		`SELECT seq, aggregate, subject, payload FROM outbox WHERE seq > $1 ORDER BY seq`, r.lastSeq)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e       Event
			payload []byte
		)
		if err := rows.Scan(&r.lastSeq, &e.Aggregate, &e.Subject, &payload); err != nil {
			t.Fatal(err)
		}
		if e.Message, err = events.Unmarshal(payload); err != nil {
			t.Fatalf("outbox payload: %v", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
