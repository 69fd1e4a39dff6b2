-- The payment service's payments, one per order, with the outbox of the
-- events it publishes and the inbox of the order events it has handled.
-- The constraints repeat the service's rules on purpose: the schema is the
-- last line of defence against any writer.

-- +goose Up
CREATE TABLE payments (
    -- Also the idempotency key of the charge at the provider ("refund-<id>"
    -- for its refund): a redelivered event charges nobody twice.
    id           uuid        PRIMARY KEY,
    -- The order and its owner live in the order service's database: no
    -- foreign keys.
    order_id     uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    amount_minor bigint      NOT NULL,
    currency     text        NOT NULL,
    method       text        NOT NULL,
    status       text        NOT NULL,
    decline_code text        NOT NULL DEFAULT '',
    message      text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),

    -- One payment per order: the insert of a second (a redelivered or
    -- concurrent order.confirmed) does nothing, and a voided row left by an
    -- early order.cancelled keeps a late order.confirmed from charging.
    CONSTRAINT payments_order_id_key UNIQUE (order_id),
    CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded', 'voided')),
    CONSTRAINT payments_amount_minor_check CHECK (amount_minor >= 0),
    CONSTRAINT payments_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT payments_method_check CHECK (char_length(method) <= 255),
    -- A decline code says why a failed payment failed, and only that.
    CONSTRAINT payments_decline_code_check CHECK ((status = 'failed') = (decline_code <> '') AND char_length(decline_code) <= 100),
    CONSTRAINT payments_message_check CHECK (char_length(message) <= 500)
);

-- kit/outbox.Schema, as of this migration.
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

-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- kit/subscriber.InboxSchema, as of this migration.
CREATE TABLE inbox (
    event_id   text PRIMARY KEY CHECK (event_id <> ''),
    consumer   text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE inbox;
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TABLE outbox;
DROP TABLE payments;
