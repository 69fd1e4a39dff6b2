-- The product catalog. The constraints repeat the service's validation on
-- purpose: the schema is the last line of defence against any writer.

-- +goose Up
-- pg_trgm lets the q filter (ILIKE '%…%') use an index instead of a scan.
-- It is a trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- "C" collation: byte order, so keyset pagination order is the same on
    -- every server whatever its locale.
    sku         text        COLLATE "C" NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    price_minor bigint      NOT NULL,
    currency    text        NOT NULL,
    stock       bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT products_sku_key UNIQUE (sku),
    CONSTRAINT products_sku_check CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{2,63}$'),
    CONSTRAINT products_name_check CHECK (char_length(name) BETWEEN 1 AND 200 AND name = btrim(name)),
    CONSTRAINT products_description_check CHECK (char_length(description) <= 4000),
    CONSTRAINT products_price_minor_check CHECK (price_minor BETWEEN 0 AND 10000000000),
    CONSTRAINT products_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT products_stock_check CHECK (stock BETWEEN 0 AND 1000000000)
);

-- The unique constraint's index on sku serves the list order and its keyset
-- (WHERE sku > $1 ORDER BY sku). These serve the q filter.
CREATE INDEX products_sku_trgm_idx ON products USING gin (sku gin_trgm_ops);
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_description_trgm_idx ON products USING gin (description gin_trgm_ops);

-- +goose Down
DROP TABLE products;
-- The extension stays: other schemas in the database may use it.
