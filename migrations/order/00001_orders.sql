-- Orders of the order service. The constraints repeat the service's
-- validation on purpose: the schema is the last line of defence against any
-- writer.

-- +goose Up
CREATE TABLE orders (
    id              uuid        PRIMARY KEY,
    -- The owner, a user of the user service (another database: no foreign key).
    user_id         uuid        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    total_minor     bigint      NOT NULL,
    currency        text        NOT NULL,
    -- Set while a ReleaseStock call to the catalog is owed (a failed or
    -- cancelled order whose stock may still be reserved); the recovery loop
    -- retries until the catalog confirms, then clears it.
    release_pending boolean     NOT NULL DEFAULT false,
    -- The client's Idempotency-Key and the SHA-256 of the normalised
    -- request it came with. A failed attempt gives its key up (both NULL) so
    -- that a retry with the same key can try again.
    idempotency_key text,
    request_hash    bytea,
    -- Why a rejected order was rejected: the field errors returned to the
    -- client ([{"field":…,"message":…}]), replayed for a repeated request.
    rejection       jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT orders_status_check CHECK (status IN ('pending', 'confirmed', 'rejected', 'failed', 'cancelled')),
    CONSTRAINT orders_total_minor_check CHECK (total_minor >= 0),
    CONSTRAINT orders_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT orders_idempotency_key_check CHECK (
        idempotency_key IS NULL OR (octet_length(idempotency_key) BETWEEN 1 AND 255 AND idempotency_key ~ '^[ -~]+$')),
    CONSTRAINT orders_request_hash_check CHECK (
        (idempotency_key IS NULL) = (request_hash IS NULL) AND (request_hash IS NULL OR octet_length(request_hash) = 32)),
    -- Only orders whose stock must go back owe a release.
    CONSTRAINT orders_release_pending_check CHECK (NOT release_pending OR status IN ('failed', 'cancelled')),
    -- NULL keys are distinct, so orders without a key never collide.
    CONSTRAINT orders_idempotency_key_key UNIQUE (user_id, idempotency_key)
);

-- One row per product of an order, in the order the client listed them.
-- Names, SKUs and prices are copied from the catalog when the order is
-- placed: an order keeps what was bought at what price.
CREATE TABLE order_items (
    order_id         uuid   NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          int    NOT NULL,
    product_id       uuid   NOT NULL,
    sku              text   NOT NULL,
    name             text   NOT NULL,
    unit_price_minor bigint NOT NULL,
    quantity         int    NOT NULL,
    line_total_minor bigint NOT NULL,

    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_items_product_key UNIQUE (order_id, product_id),
    CONSTRAINT order_items_line_no_check CHECK (line_no BETWEEN 1 AND 50),
    CONSTRAINT order_items_quantity_check CHECK (quantity BETWEEN 1 AND 1000),
    CONSTRAINT order_items_unit_price_minor_check CHECK (unit_price_minor >= 0),
    CONSTRAINT order_items_line_total_minor_check CHECK (line_total_minor = unit_price_minor * quantity)
);

-- A user's orders newest first, and everyone's (admins), with the keyset
-- (created_at, id) of the pagination.
CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_created_at_idx ON orders (created_at DESC, id DESC);
-- The recovery loop's two questions stay cheap however many orders there are.
CREATE INDEX orders_pending_idx ON orders (created_at) WHERE status = 'pending';
CREATE INDEX orders_release_pending_idx ON orders (updated_at) WHERE release_pending;

-- +goose Down
DROP TABLE order_items;
DROP TABLE orders;
