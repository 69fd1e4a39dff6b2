-- The storefront's own data: the carts of signed-in customers (a guest's
-- cart is a signed cookie) and the checkouts placed, which make a repeated
-- checkout form (a double click, the back button) land on the same order.

-- +goose Up
CREATE TABLE cart_items (
    user_id    uuid        NOT NULL,
    product_id uuid        NOT NULL,
    quantity   integer     NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id),
    CONSTRAINT cart_items_quantity_check CHECK (quantity BETWEEN 1 AND 99)
);

CREATE TABLE checkouts (
    user_id         uuid        NOT NULL,
    idempotency_key text        NOT NULL,
    order_id        uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key),
    CONSTRAINT checkouts_key_check CHECK (char_length(idempotency_key) BETWEEN 1 AND 64)
);

-- +goose Down
DROP TABLE checkouts;
DROP TABLE cart_items;
