package user

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// The refresh token state machine on Postgres.
//
// Every session (token family) has a row in refresh_families, and every
// change to a session's tokens happens in a transaction that holds that
// row's lock, taken first: a rotation locks it FOR UPDATE and checks
// revoked_at under the lock; a revocation UPDATEs it (which locks it) before
// it touches any token. So a revocation waits for a rotation in flight and
// a rotation waits for a revocation in flight, and whichever comes second
// sees what the first did. Without the family lock, an UPDATE revoking the
// tokens of a family cannot see the token a concurrent rotation inserts
// (READ COMMITTED), and that token outlives the logout.
//
// Locks are always taken family before token, and a user's families are
// revoked together only under the user's row lock (UpdateAccount), so the
// transactions cannot deadlock one another.

// CreateRefreshToken implements Repository. It also deletes the user's
// expired tokens and the tokens rotated before pruneRotatedBefore (see
// DefaultReuseWindow), and sessions left without tokens: without the
// clean-up every login and refresh would leave a row behind for good.
func (r *Postgres) CreateRefreshToken(ctx context.Context, t RefreshToken, pruneRotatedBefore time.Time) error {
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		// Sessions with no usable token left go first, their tokens with
		// them (ON DELETE CASCADE): family before token, as everywhere.
		if _, err := tx.Exec(ctx, `
			DELETE FROM refresh_families f
			WHERE user_id = $1 AND NOT EXISTS (
				SELECT 1 FROM refresh_tokens t
				WHERE t.family_id = f.id AND t.expires_at > $2 AND (t.rotated_at IS NULL OR t.rotated_at >= $3))`,
			t.UserID, t.CreatedAt, pruneRotatedBefore); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			DELETE FROM refresh_tokens
			WHERE user_id = $1 AND (expires_at <= $2 OR rotated_at < $3)`,
			t.UserID, t.CreatedAt, pruneRotatedBefore); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO refresh_families (id, user_id, created_at) VALUES ($1, $2, $3)`,
			t.FamilyID, t.UserID, t.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`,
			t.Hash, t.FamilyID, t.UserID, t.CreatedAt, t.ExpiresAt)
		return err
	})
	if err != nil {
		return dbError(err, "storing refresh token")
	}
	return nil
}

// RotateRefreshToken implements Repository.
func (r *Postgres) RotateRefreshToken(ctx context.Context, rot Rotation) (User, error) {
	var (
		u      User
		reused bool // committed a family revocation; report it after commit
	)
	now := rot.Next.CreatedAt
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		// The family first (see above). A token's family never changes,
		// so reading it without a lock is safe.
		var familyID string
		err := tx.QueryRow(ctx, `
			SELECT f.id::text FROM refresh_families f
			WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
			  AND f.revoked_at IS NULL
			FOR UPDATE OF f`,
			rot.Presented).Scan(&familyID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errInvalidRefreshToken // unknown token, or its session revoked
		case err != nil:
			return err
		}

		var (
			userID               string
			expiresAt            time.Time
			rotatedAt, revokedAt *time.Time
		)
		err = tx.QueryRow(ctx, `
			SELECT user_id::text, expires_at, rotated_at, revoked_at
			FROM refresh_tokens
			WHERE token_hash = $1
			FOR UPDATE`,
			rot.Presented).Scan(&userID, &expiresAt, &rotatedAt, &revokedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errInvalidRefreshToken // pruned meanwhile
		case err != nil:
			return err
		case revokedAt != nil:
			return errInvalidRefreshToken
		case rotatedAt != nil:
			// Used before: revoke the family, and commit that.
			reused = true
			return revokeFamily(ctx, tx, familyID, now)
		case !now.Before(expiresAt):
			return errInvalidRefreshToken
		}

		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1`, rot.Presented, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`,
			rot.Next.Hash, familyID, userID, now, rot.Next.ExpiresAt); err != nil {
			return err
		}
		// Tokens of the family rotated so long ago that their reuse is
		// no longer watched for go; presented again, they are unknown.
		if _, err := tx.Exec(ctx, `
			DELETE FROM refresh_tokens WHERE family_id = $1 AND rotated_at < $2`,
			familyID, rot.PruneRotatedBefore); err != nil {
			return err
		}
		// The roles are read now, so a promotion or demotion reaches the
		// next access token.
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		return err
	})
	switch {
	case err != nil && errs.Is(err, errs.Unauthenticated):
		return User{}, err
	case err != nil:
		return User{}, dbError(err, "rotating refresh token")
	case reused:
		return User{}, &errs.Error{
			Kind:    errs.Unauthenticated,
			Message: errs.Message(errInvalidRefreshToken),
			Err:     ErrRefreshTokenReused,
		}
	}
	return u, nil
}

// RevokeRefreshFamily implements Repository.
func (r *Postgres) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) error {
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		var familyID string
		err := tx.QueryRow(ctx, `SELECT family_id::text FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(&familyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // unknown or pruned: nothing to revoke
		}
		if err != nil {
			return err
		}
		return revokeFamily(ctx, tx, familyID, now)
	})
	if err != nil {
		return dbError(err, "revoking refresh tokens")
	}
	return nil
}

// revokeFamily revokes the session familyID and its tokens at now. The
// UPDATE of the family comes first: it waits for a rotation that holds the
// family's lock, and makes every later one find the session revoked.
func revokeFamily(ctx context.Context, tx pgx.Tx, familyID string, now time.Time) error {
	if _, err := tx.Exec(ctx, `
		UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
		familyID, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
		familyID, now)
	return err
}

// revokeUserSessions revokes every session of the user id at now, families
// first, as revokeFamily does. The caller holds the user's row lock.
func revokeUserSessions(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	if _, err := tx.Exec(ctx, `
		UPDATE refresh_families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		id, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		id, now)
	return err
}
