-- +goose Up
CREATE TABLE categories (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text   NOT NULL CONSTRAINT items_sku_key UNIQUE,
    price_cents bigint NOT NULL CONSTRAINT items_price_positive CHECK (price_cents > 0),
    category_id bigint CONSTRAINT items_category_fk REFERENCES categories (id)
);

-- +goose Down
DROP TABLE items;
DROP TABLE categories;
