-- The notification service: in-app notifications made from other services'
-- events, the recipients' addresses those events carried, the inbox that
-- makes each event's effect happen once, and the queue of emails to send.
-- The constraints repeat the service's rules on purpose: the schema is the
-- last line of defence against any writer.

-- +goose Up
-- A user's address and name, copied from kitshop.user.v1.registered (event-
-- carried state): the service emails without asking the user service.
CREATE TABLE recipients (
    user_id    uuid        PRIMARY KEY,
    email      text        NOT NULL,
    name       text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT recipients_email_check CHECK (char_length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
    CONSTRAINT recipients_name_check CHECK (char_length(name) <= 200)
);

-- One row per event that concerns a user. event_id is the event's id:
-- UNIQUE, so even an event the inbox forgot makes no second notification.
CREATE TABLE notifications (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A user of the user service (another database: no foreign key).
    user_id    uuid        NOT NULL,
    event_id   uuid        NOT NULL,
    kind       text        NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    order_id   uuid,
    read_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT notifications_event_id_key UNIQUE (event_id),
    CONSTRAINT notifications_kind_check CHECK (kind IN ('welcome', 'order_confirmed', 'order_rejected',
        'order_cancelled', 'order_paid', 'order_payment_failed', 'payment_refunded')),
    CONSTRAINT notifications_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT notifications_body_check CHECK (char_length(body) BETWEEN 1 AND 2000)
);

-- A user's notifications newest first, with the keyset (created_at, id) of
-- the pagination; and the unread ones alone, for the filter and the count.
CREATE INDEX notifications_user_id_created_at_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at DESC, id DESC) WHERE read_at IS NULL;

-- The inbox of kit/subscriber (subscriber.InboxSchema): the ids of the
-- events handled, written in the transaction that handles them.
CREATE TABLE inbox (
    event_id   text PRIMARY KEY CHECK (event_id <> ''),
    consumer   text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);

-- Emails to send, one per notification at most, queued in the transaction
-- that makes the notification (only when SMTP is configured and the
-- recipient's address is known). The sender claims a due row by moving
-- next_attempt_at past the time one send may take (a lease: a sender that
-- dies mid-send leaves it to another after that), then sets sent_at, or
-- next_attempt_at for a retry, or failed_at when it gives up.
CREATE TABLE emails (
    notification_id uuid        PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT emails_attempts_check CHECK (attempts >= 0),
    CONSTRAINT emails_settled_check CHECK (sent_at IS NULL OR failed_at IS NULL)
);

-- The sender's question, "what is due?", stays cheap however many were sent.
CREATE INDEX emails_due_idx ON emails (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE emails;
DROP TABLE inbox;
DROP TABLE notifications;
DROP TABLE recipients;
