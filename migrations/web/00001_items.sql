-- The web service's items. The constraints repeat the service's
-- validation on purpose: the schema is the last line of defence against any
-- writer. The constraint names are what web/postgres.go maps to API
-- errors (items_name_key: 409; items_<field>_check: 400 naming <field>).

-- +goose Up
CREATE TABLE items (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- "C" collation: byte order, so the keyset pagination order is the same
    -- on every server whatever its locale.
    name        text        COLLATE "C" NOT NULL,
    description text        NOT NULL DEFAULT '',
    quantity    bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    -- Its index serves the list order and its keyset (WHERE name > $1 ORDER BY name).
    CONSTRAINT items_name_key UNIQUE (name),
    CONSTRAINT items_name_check CHECK (char_length(name) BETWEEN 1 AND 40 AND name = btrim(name)),
    CONSTRAINT items_description_check CHECK (char_length(description) <= 2000),
    CONSTRAINT items_quantity_check CHECK (quantity BETWEEN 0 AND 1000000000)
);

-- +goose Down
DROP TABLE items;
