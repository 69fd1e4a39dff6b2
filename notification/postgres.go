package notification

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/subscriber"
)

// Postgres is the Repository, the EventStore and the EmailQueue on a
// Postgres database migrated with migrations.For("notification").
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns the storage on pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

var (
	_ Repository = (*Postgres)(nil)
	_ EventStore = (*Postgres)(nil)
	_ EmailQueue = (*Postgres)(nil)
)

const notificationColumns = `id::text, user_id::text, event_id::text, kind, title, body,
	COALESCE(order_id::text, ''), read_at, created_at`

// List implements Repository. The keyset (created_at, id) < (…) rides on
// the index of the same columns (the partial one for the unread), so every
// page costs the same however deep it is.
func (r *Postgres) List(ctx context.Context, f Filter) ([]Notification, error) {
	args := []any{f.UserID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := "user_id = $1"
	if f.UnreadOnly {
		where += " AND read_at IS NULL"
	}
	if f.Before != nil {
		where += " AND (created_at, id) < (" + arg(f.Before.CreatedAt) + ", " + arg(f.Before.ID) + "::uuid)"
	}
	rows, err := r.pool.Query(ctx, `
		SELECT `+notificationColumns+` FROM notifications WHERE `+where+`
		ORDER BY created_at DESC, id DESC
		LIMIT `+arg(f.Limit), args...)
	if err != nil {
		return nil, dbError(err, "listing notifications")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) { return scanNotification(row) })
	if err != nil {
		return nil, dbError(err, "listing notifications")
	}
	return list, nil
}

// UnreadCount implements Repository.
func (r *Postgres) UnreadCount(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := r.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, dbError(err, "counting unread notifications")
	}
	return n, nil
}

// MarkRead implements Repository: one conditional UPDATE, so another user's
// notification is NotFound exactly like an unknown one.
func (r *Postgres) MarkRead(ctx context.Context, userID, id string) (Notification, error) {
	n, err := scanNotification(r.pool.QueryRow(ctx, `
		UPDATE notifications SET read_at = COALESCE(read_at, now())
		WHERE id = $1 AND user_id = $2
		RETURNING `+notificationColumns, id, userID))
	if err != nil {
		return Notification{}, dbError(err, "marking notification read")
	}
	return n, nil
}

// MarkAllRead implements Repository.
func (r *Postgres) MarkAllRead(ctx context.Context, userID string) (int64, error) {
	tag, err := r.pool.Exec(ctx, `UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL`, userID)
	if err != nil {
		return 0, dbError(err, "marking notifications read")
	}
	return tag.RowsAffected(), nil
}

// Record implements EventStore. A concurrent delivery of the same event
// waits on the inbox row until the first transaction ends, then finds it
// (subscriber.QueueOnce). The notification's UNIQUE event_id is the second
// guard: should the inbox ever forget an event, ON CONFLICT still makes no
// second notification, and no second email.
//
// Two round trips (kit/postgres.Pipeline), where a statement each took
// four to six: BEGIN with the inbox row, whose outcome decides whether to
// go on; then the recipient, the notification and its email with COMMIT.
func (r *Postgres) Record(ctx context.Context, e Effect) (bool, error) {
	n := e.Notification
	queued := false
	err := func() error {
		p, err := postgres.BeginPipeline(ctx, r.pool)
		if err != nil {
			return err
		}
		defer p.End(ctx)
		first := false
		if err := p.Send(ctx, func(b *pgx.Batch) {
			subscriber.QueueOnce(b, Consumer, n.EventID, &first)
		}); err != nil || !first {
			return err
		}
		return p.Commit(ctx, func(b *pgx.Batch) {
			if rc := e.Recipient; rc != nil {
				b.Queue(`
				INSERT INTO recipients (user_id, email, name) VALUES ($1, $2, $3)
				ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, updated_at = now()`,
					rc.UserID, rc.Email, rc.Name)
			}
			// The email is queued with the notification, if it was made
			// (not there already) and the user has an address: the
			// recipient's row, written by the statement before if this
			// event brings it, is visible to this later statement.
			b.Queue(`
				WITH made AS (
					INSERT INTO notifications (user_id, event_id, kind, title, body, order_id)
					VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')::uuid)
					ON CONFLICT (event_id) DO NOTHING
					RETURNING id
				)
				INSERT INTO emails (notification_id)
				SELECT id FROM made
				WHERE $7 AND EXISTS (SELECT 1 FROM recipients WHERE user_id = $1)`,
				n.UserID, n.EventID, n.Kind, n.Title, n.Body, n.OrderID, e.Email).Exec(func(tag pgconn.CommandTag) error {
				queued = tag.RowsAffected() == 1
				return nil
			})
		})
	}()
	if err != nil {
		return false, dbError(err, "recording event")
	}
	return queued, nil
}

// ClaimEmail implements EmailQueue. SKIP LOCKED passes over a row another
// sender is claiming at this moment, and the claim itself (next_attempt_at
// moved lease ahead) keeps the row from every sender until then.
func (r *Postgres) ClaimEmail(ctx context.Context, lease time.Duration) (QueuedEmail, bool, error) {
	var q QueuedEmail
	err := r.pool.QueryRow(ctx, `
		WITH due AS (
			SELECT notification_id FROM emails
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE emails e SET attempts = e.attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
			FROM due WHERE e.notification_id = due.notification_id
			RETURNING e.notification_id, e.attempts
		)
		SELECT c.notification_id::text, c.attempts, n.event_id::text, n.title, n.body,
			COALESCE(r.email, ''), COALESCE(r.name, '')
		FROM claimed c
		JOIN notifications n ON n.id = c.notification_id
		LEFT JOIN recipients r ON r.user_id = n.user_id`,
		lease.Seconds()).Scan(&q.NotificationID, &q.Attempts, &q.EventID, &q.Subject, &q.Text, &q.To.Address, &q.To.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return QueuedEmail{}, false, nil
	}
	if err != nil {
		return QueuedEmail{}, false, dbError(err, "claiming an email")
	}
	return q, true, nil
}

// EmailSent implements EmailQueue.
func (r *Postgres) EmailSent(ctx context.Context, notificationID string) error {
	_, err := r.pool.Exec(ctx, `UPDATE emails SET sent_at = now(), last_error = NULL WHERE notification_id = $1`, notificationID)
	return dbError(err, "marking an email sent")
}

// RetryEmail implements EmailQueue.
func (r *Postgres) RetryEmail(ctx context.Context, notificationID string, after time.Duration, cause string) error {
	_, err := r.pool.Exec(ctx, `
		UPDATE emails SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
		WHERE notification_id = $1 AND sent_at IS NULL`, notificationID, after.Seconds(), cause)
	return dbError(err, "rescheduling an email")
}

// GiveUpEmail implements EmailQueue.
func (r *Postgres) GiveUpEmail(ctx context.Context, notificationID, cause string) error {
	_, err := r.pool.Exec(ctx, `
		UPDATE emails SET failed_at = now(), last_error = $2
		WHERE notification_id = $1 AND sent_at IS NULL`, notificationID, cause)
	return dbError(err, "giving up an email")
}

// scanNotification reads the notificationColumns of one row.
func scanNotification(row pgx.Row) (Notification, error) {
	var (
		n      Notification
		readAt *time.Time
	)
	err := row.Scan(&n.ID, &n.UserID, &n.EventID, &n.Kind, &n.Title, &n.Body, &n.OrderID, &readAt, &n.CreatedAt)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	n.CreatedAt = n.CreatedAt.UTC()
	if readAt != nil {
		n.ReadAt = readAt.UTC()
	}
	return n, err
}

// dbErrors classifies the database's errors (kit/postgres): a missing row is
// NotFound; failing to reach the server is Unavailable, worth a retry (and
// an event's redelivery); anything else the server reports, constraint
// violations included, is a bug (Internal): the service writes only what it
// checked.
var dbErrors = postgres.Classifier{NotFound: errNotFound, Unavailable: "notification database unavailable"}

// dbError classifies err; nil stays nil.
func dbError(err error, op string) error {
	if err == nil {
		return nil
	}
	return dbErrors.Classify(err, op)
}
