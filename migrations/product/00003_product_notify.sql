-- Every committed change to a product row is announced on the channel
-- product_changed with the product's id as payload, whoever made it: the
-- service's instances keep their read caches in step by listening
-- (kit/postgres.Listen). NOTIFY is transactional: nothing is sent for a
-- rolled-back change, and a transaction's notifications arrive after it
-- commits, so a listener never drops a cached row before the new one is
-- visible.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION products_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('product_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('product_changed', NEW.id::text);
        -- An update that changes the id (none of ours does) also ends the
        -- old one.
        IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
            PERFORM pg_notify('product_changed', OLD.id::text);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER products_notify_change
AFTER INSERT OR UPDATE OR DELETE ON products
FOR EACH ROW EXECUTE FUNCTION products_notify_change();

-- TRUNCATE fires no row triggers: announce it with an empty payload, which
-- listeners take as "everything changed".
-- +goose StatementBegin
CREATE FUNCTION products_notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('product_changed', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER products_notify_truncate
AFTER TRUNCATE ON products
FOR EACH STATEMENT EXECUTE FUNCTION products_notify_truncate();

-- +goose Down
DROP TRIGGER products_notify_truncate ON products;
DROP FUNCTION products_notify_truncate();
DROP TRIGGER products_notify_change ON products;
DROP FUNCTION products_notify_change();
