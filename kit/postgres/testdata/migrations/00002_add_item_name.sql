-- +goose Up
ALTER TABLE items ADD COLUMN name text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE items DROP COLUMN name;
