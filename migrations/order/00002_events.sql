-- Orders follow their payment (the payment service's events), and report
-- every change as an event through a transactional outbox (kit/outbox).

-- +goose Up
ALTER TABLE orders
    DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'confirmed', 'rejected', 'failed', 'cancelled', 'paid')),
    -- The test payment method the order is charged with.
    ADD COLUMN payment_method text NOT NULL DEFAULT 'pm_card_visa'
        CONSTRAINT orders_payment_method_check CHECK (payment_method ~ '^pm_[A-Za-z0-9_]{1,60}$'),
    -- Why a cancelled order was cancelled.
    ADD COLUMN cancel_reason text
        CONSTRAINT orders_cancel_reason_check CHECK (cancel_reason IN ('customer', 'payment_declined'));

-- Orders cancelled before this migration were cancelled by their owner.
UPDATE orders SET cancel_reason = 'customer' WHERE status = 'cancelled';
ALTER TABLE orders
    ADD CONSTRAINT orders_cancel_reason_status_check CHECK ((cancel_reason IS NULL) = (status <> 'cancelled'));

-- kit/outbox.Schema.
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

-- kit/subscriber.InboxSchema.
CREATE TABLE inbox (
    event_id   text PRIMARY KEY CHECK (event_id <> ''),
    consumer   text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE inbox;
DROP TABLE outbox;
DROP FUNCTION outbox_notify();
ALTER TABLE orders DROP CONSTRAINT orders_cancel_reason_status_check, DROP COLUMN cancel_reason, DROP COLUMN payment_method;
UPDATE orders SET status = 'cancelled' WHERE status = 'paid';
ALTER TABLE orders
    DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'confirmed', 'rejected', 'failed', 'cancelled'));
