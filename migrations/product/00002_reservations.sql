-- Stock reservations: stock the order service has taken out of
-- products.stock for an order. A reservation is made once per order and
-- released at most once; a release that comes first leaves a tombstone
-- (status 'released', no items) so that a late reservation for the same
-- order cannot land. products.stock CHECK (stock BETWEEN 0 AND …) from
-- 00001 is what finally forbids overselling.

-- +goose Up
CREATE TABLE stock_reservations (
    order_id    uuid        PRIMARY KEY,
    status      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,

    CONSTRAINT stock_reservations_status_check CHECK (status IN ('reserved', 'released')),
    CONSTRAINT stock_reservations_released_at_check CHECK ((status = 'released') = (released_at IS NOT NULL))
);

CREATE TABLE stock_reservation_items (
    order_id   uuid   NOT NULL REFERENCES stock_reservations (order_id) ON DELETE CASCADE,
    -- A deleted product takes its reserved quantities with it: there is no
    -- stock left to give back to.
    product_id uuid   NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity   bigint NOT NULL,

    PRIMARY KEY (order_id, product_id),
    CONSTRAINT stock_reservation_items_quantity_check CHECK (quantity > 0)
);

-- Deleting a product finds its reservation items through this index.
CREATE INDEX stock_reservation_items_product_id_idx ON stock_reservation_items (product_id);

-- +goose Down
DROP TABLE stock_reservation_items;
DROP TABLE stock_reservations;
