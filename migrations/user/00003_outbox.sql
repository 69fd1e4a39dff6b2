-- The transactional outbox of the user service (kit/outbox): creating an
-- account writes its user.registered event here, in the same transaction,
-- and the relay publishes the committed rows to JetStream.
--
-- The text is kit/outbox.Schema as it was when this migration was written,
-- copied so that the migration never changes under a database that has
-- applied it.

-- +goose Up
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

-- +goose Down
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TABLE outbox;
