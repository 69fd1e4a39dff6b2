package user

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

// DefaultReuseWindow is how long a rotated refresh token is kept so that
// its reuse is recognised (and the session revoked as stolen). A copy used
// later is merely unknown: refused, but without ending the session. A day
// covers a client that lost a response and retries, and an attacker who
// replays a token captured that day; without a limit every refresh would
// leave a row behind for the refresh token's whole lifetime.
const DefaultReuseWindow = 24 * time.Hour

// WithReuseWindow sets how long rotated refresh tokens are kept for reuse
// detection (default DefaultReuseWindow). Older ones are deleted when the
// session is refreshed and when the user logs in.
func WithReuseWindow(d time.Duration) Option {
	return func(s *service) { s.reuseWindow = d }
}

func (s *service) Login(ctx context.Context, c Credentials) (TokenPair, error) {
	// The email is normalised as at sign-up. One that no sign-up would
	// accept has no account; saying so leaks nothing, and it bounds the
	// throttle's keys.
	var v validator
	email := v.email(c.Email)
	v.loginPassword(c.Password)
	if err := v.Err(); err != nil {
		return TokenPair{}, err
	}

	now := s.now()
	if err := s.throttle.Allow(userKey(email), c.ClientIP, now); err != nil {
		return TokenPair{}, err
	}
	acct, err := s.repo.AccountByEmail(ctx, email)
	known := err == nil
	if err != nil && !errs.Is(err, errs.NotFound) {
		return TokenPair{}, err // the database failed; not the client's failure
	}
	if !known {
		acct.PasswordHash = s.dummyHash
	}
	matches, err := s.passwordMatches(ctx, acct.PasswordHash, c.Password)
	if err != nil {
		return TokenPair{}, err // too busy: not the client's failure
	}
	if !matches || !known {
		s.throttle.Fail(userKey(email), c.ClientIP, now)
		return TokenPair{}, errInvalidCredentials
	}
	return s.startSession(ctx, acct.User, now)
}

// startSession issues the first pair of a new refresh token family.
func (s *service) startSession(ctx context.Context, u User, now time.Time) (TokenPair, error) {
	token, hash := newRefreshToken()
	err := s.repo.CreateRefreshToken(ctx, RefreshToken{
		Hash: hash, FamilyID: uuid.NewString(), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL),
	}, now.Add(-s.reuseWindow))
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(u, token, now)
}

// pair signs an access token for u to go with the refresh token.
func (s *service) pair(u User, refreshToken string, now time.Time) (TokenPair, error) {
	access, err := s.signer.Sign(now, u.ID, u.Roles)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, ExpiresIn: s.signer.TTL(), RefreshToken: refreshToken, UserID: u.ID}, nil
}

func (s *service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	if err := checkRefreshToken(refreshToken); err != nil {
		return TokenPair{}, err
	}
	presented, ok := hashRefreshToken(refreshToken)
	if !ok {
		return TokenPair{}, errInvalidRefreshToken
	}
	now := s.now()
	next, nextHash := newRefreshToken()
	u, err := s.repo.RotateRefreshToken(ctx, Rotation{
		Presented: presented,
		Next:      RefreshToken{Hash: nextHash, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL)},

		PruneRotatedBefore: now.Add(-s.reuseWindow),
	})
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(u, next, now)
}

func (s *service) Logout(ctx context.Context, refreshToken string) error {
	if err := checkRefreshToken(refreshToken); err != nil {
		return err
	}
	hash, ok := hashRefreshToken(refreshToken)
	if !ok {
		return nil // not a token this service issued: nothing to revoke
	}
	return s.repo.RevokeRefreshFamily(ctx, hash, s.now())
}

func (s *service) JWKS(context.Context) (auth.JWKS, error) {
	return s.signer.JWKS(), nil
}

func (s *service) ServiceToken(_ context.Context, c ClientCredentials) (AccessToken, error) {
	var v validator
	if c.ClientID == "" {
		v.Add("client_id", "must not be empty")
	}
	if c.ClientSecret == "" {
		v.Add("client_secret", "must not be empty")
	}
	if err := v.Err(); err != nil {
		return AccessToken{}, err
	}

	// As for logins, the attempt is counted before the secret is looked at.
	// Ids that cannot name an account share one budget: they never
	// succeed, so spending it harms nobody, and they add no throttle keys.
	key := serviceKey("")
	if ValidServiceAccountName(c.ClientID) {
		key = serviceKey(c.ClientID)
	}
	now := s.now()
	if err := s.throttle.Allow(key, c.ClientIP, now); err != nil {
		return AccessToken{}, err
	}
	if !s.accounts.Check(c.ClientID, c.ClientSecret) {
		s.throttle.Fail(key, c.ClientIP, now)
		return AccessToken{}, errInvalidClient
	}
	subject := auth.ServiceSubject(c.ClientID)
	token, err := s.signer.Sign(now, subject, []string{auth.RoleService})
	if err != nil {
		return AccessToken{}, err
	}
	return AccessToken{Token: token, ExpiresIn: s.signer.TTL(), Subject: subject}, nil
}

// refreshTokenBytes is the entropy of a refresh token: 256 bits, beyond any
// guessing.
const refreshTokenBytes = 32

// newRefreshToken returns a new random refresh token and its hash.
func newRefreshToken() (token string, hash []byte) {
	b := make([]byte, refreshTokenBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	token = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256(b)
	return token, sum[:]
}

// hashRefreshToken returns the hash stored for token, or false if token
// cannot be one this service issued. The hash is of the decoded bytes, so
// every token has one spelling. A fast hash is enough: the token has 256
// bits of entropy, unlike a password.
func hashRefreshToken(token string) ([]byte, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(refreshTokenBytes) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != refreshTokenBytes {
		return nil, false
	}
	sum := sha256.Sum256(b)
	return sum[:], true
}
