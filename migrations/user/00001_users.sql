-- Accounts and refresh tokens of the user service. The constraints repeat the
-- service's validation on purpose: the schema is the last line of defence
-- against any writer.

-- +goose Up
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored trimmed and lower-cased by the service; the unique index below
    -- compares lower(email) as well, so no writer can create two accounts
    -- that differ only in case.
    email         text        NOT NULL,
    name          text        NOT NULL,
    -- A bcrypt hash ("$2a$12$…"); never a password.
    password_hash text        NOT NULL,
    roles         text[]      NOT NULL DEFAULT '{customer}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT users_email_check CHECK (char_length(email) BETWEEN 3 AND 254 AND email = btrim(email)),
    CONSTRAINT users_name_check CHECK (char_length(name) BETWEEN 1 AND 100 AND name = btrim(name)),
    CONSTRAINT users_password_hash_check CHECK (password_hash LIKE '$2_$%'),
    -- Every user is a customer; some are admins too.
    CONSTRAINT users_roles_check CHECK (
        'customer' = ANY (roles) AND roles <@ ARRAY['customer', 'admin']::text[])
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens are opaque random strings; only their SHA-256 is stored, so
-- a copy of the table logs nobody in. Tokens issued by one login form a
-- family: each refresh marks the presented token rotated and issues the next
-- one of the family. A rotated token presented again means it was copied, and
-- the whole family is revoked.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY,
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz,

    CONSTRAINT refresh_tokens_token_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT refresh_tokens_expires_at_check CHECK (expires_at > created_at)
);

-- Revoking a family, and all of a user's tokens when the password changes.
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id, expires_at);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE users;
