-- A row per login session (refresh token family). Rotation and revocation
-- both lock it, so they are serialised: a refresh running while the session
-- is revoked either commits before the revocation (and the revocation, which
-- is on the family, kills the token it issued) or sees the revocation under
-- the lock and refuses. Revoking only the token rows could not do that: a
-- token inserted by a concurrent rotation is invisible to an UPDATE that
-- started before it committed (READ COMMITTED).

-- +goose Up
CREATE TABLE refresh_families (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    -- Set once: a revoked session stays revoked.
    revoked_at timestamptz
);

CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);

-- Existing sessions get their row; a family with any revoked token was
-- revoked as a whole.
INSERT INTO refresh_families (id, user_id, created_at, revoked_at)
SELECT family_id, (array_agg(user_id))[1], min(created_at), max(revoked_at)
FROM refresh_tokens
GROUP BY family_id;

ALTER TABLE refresh_tokens
    ADD CONSTRAINT refresh_tokens_family_id_fkey
    FOREIGN KEY (family_id) REFERENCES refresh_families (id) ON DELETE CASCADE;

-- Pruning tokens rotated long ago.
CREATE INDEX refresh_tokens_rotated_at_idx ON refresh_tokens (family_id, rotated_at) WHERE rotated_at IS NOT NULL;

-- +goose Down
DROP INDEX refresh_tokens_rotated_at_idx;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_family_id_fkey;
DROP TABLE refresh_families;
