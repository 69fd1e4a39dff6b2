package user

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

// Limits on account fields. The database schema repeats them as CHECK
// constraints (migrations/user).
const (
	MaxEmailLen      = 254 // bytes, the longest address SMTP can deliver to (RFC 5321 with RFC 3696 errata)
	MinPasswordBytes = 8
	// MaxPasswordBytes is bcrypt's limit: it ignores everything after the
	// 72nd byte, so a longer password would be silently truncated. Refusing
	// it is honest; a passphrase of 72 bytes is plenty.
	MaxPasswordBytes = 72
	MaxNameLen       = 100 // characters, after trimming spaces
)

// Defaults of the service's options.
const (
	// DefaultBcryptCost makes one hash take a few hundred milliseconds on
	// a current server core: slow for an offline attacker, fine for a login.
	DefaultBcryptCost = 12
	// DefaultRefreshTTL is how long a refresh token stays usable. Every
	// refresh issues a new one with a fresh lifetime, so an active client
	// stays logged in while an abandoned session ends after 30 days.
	DefaultRefreshTTL = 30 * 24 * time.Hour
)

// TokenType is the OAuth 2.0 token type of the access tokens (RFC 6750).
const TokenType = "Bearer"

// User is an account as clients see it: never with its password hash.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

// NewUser is the input of SignUp and EnsureAdmin.
type NewUser struct {
	Email    string
	Password string
	Name     string
	// ClientIP is the address a sign-up came from, for the per-client
	// sign-up throttle; empty if unknown (then it is not throttled).
	ClientIP string
}

// Credentials is the input of Login.
type Credentials struct {
	Email    string
	Password string
	// ClientIP is the address the attempt came from, for the per-client
	// login throttle; empty if unknown (the throttle then only counts per
	// account).
	ClientIP string
}

// TokenPair is what a login or a refresh yields.
type TokenPair struct {
	// AccessToken is a signed JWT for the Authorization header of API calls.
	AccessToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
	// RefreshToken is an opaque token that buys the next pair, once.
	RefreshToken string
	// UserID is the user the tokens are for; it is not sent to clients
	// (the access token says it), but logs and tests use it.
	UserID string
}

// ClientCredentials is the input of ServiceToken: a service account's
// OAuth 2.0 client credentials.
type ClientCredentials struct {
	ClientID     string // the account's name
	ClientSecret string
	// ClientIP is the address the request came from, for the throttle, as
	// in Credentials.
	ClientIP string
}

// AccessToken is a token issued to a service account: no refresh token, the
// service asks again with its credentials.
type AccessToken struct {
	// Token is a signed JWT for the Authorization header.
	Token string
	// ExpiresIn is the token's lifetime.
	ExpiresIn time.Duration
	// Subject is the token's "sub", auth.ServiceSubject of the account; it
	// is not sent to clients, but logs use it.
	Subject string
}

// Patch is the input of Update: nil fields are left unchanged. Changing the
// password requires the current one.
type Patch struct {
	Name            *string
	Password        *string
	CurrentPassword *string
}

// Empty reports whether the patch changes nothing.
func (p Patch) Empty() bool { return p.Name == nil && p.Password == nil }

// Fields returns the names of the fields the patch sets, as they appear on
// the wire; logs use it to say what changed without logging values.
func (p Patch) Fields() []string {
	var names []string
	if p.Name != nil {
		names = append(names, "name")
	}
	if p.Password != nil {
		names = append(names, "password")
	}
	return names
}

// Service manages accounts and the tokens that prove who a caller is.
//
// Every method returns *errs.Error values: Invalid (with one errs.FieldError
// per bad field) for bad input, Unauthenticated for bad credentials or a
// missing token, NotFound for a user the caller may not see, RateLimited
// while logins are throttled, and Unavailable or Internal when the database
// fails.
type Service interface {
	// SignUp creates a customer account, publishes its user.registered
	// event and returns it. The email is normalised (see NormalizeEmail).
	// If an account with the email exists it changes nothing (and publishes
	// nothing) and returns a zero User and no error, after the
	// same work (a password hash) as a sign-up: nobody learns from the
	// answer or its timing whether an email has an account (its owner
	// would be mailed a notice; kitshop only logs one). Invalid if a field
	// breaks the rules (see ValidateNew); RateLimited after too many
	// sign-ups from the client (WithSignUpThrottle); Unavailable when
	// password hashing is saturated (WithHashPool).
	SignUp(ctx context.Context, u NewUser) (User, error)

	// Login checks the credentials and starts a session: a new refresh
	// token family. Unauthenticated "invalid email or password" whether the
	// email is unknown or the password wrong, in comparable time;
	// RateLimited (with a retry hint) after too many failures for the
	// account or the client; Invalid if the email or password is empty.
	Login(ctx context.Context, c Credentials) (TokenPair, error)

	// Refresh exchanges a refresh token for a new pair, rotating it: the
	// presented token is used up and the new one belongs to the same
	// family. Unauthenticated if the token is unknown, expired, revoked or
	// already used; a used token presented again revokes its whole family
	// (the error wraps ErrRefreshTokenReused). Invalid if it is empty.
	Refresh(ctx context.Context, refreshToken string) (TokenPair, error)

	// Logout ends the session the refresh token belongs to by revoking its
	// family. It succeeds for unknown, expired and already revoked tokens
	// alike, so it is idempotent and tells nobody whether a token was
	// valid. Invalid if the token is empty.
	Logout(ctx context.Context, refreshToken string) error

	// Get returns the user with id. The caller (auth.FromContext) must be
	// that user or an admin: Unauthenticated without a caller, NotFound for
	// anyone else (so nobody learns which ids exist) and for an unknown id;
	// Invalid if id is not a UUID.
	Get(ctx context.Context, id string) (User, error)

	// Update changes the fields set in patch and returns the result, with
	// Get's rules on who may. A new password must pass the password policy
	// and needs the current password (Invalid "current_password" if it is
	// missing or wrong); it ends every session of the user (refresh tokens
	// are revoked; access tokens run out within their short lifetime).
	Update(ctx context.Context, id string, patch Patch) (User, error)

	// EnsureAdmin makes sure an admin account with u.Email exists: it
	// creates one with u's password and name, or finds the existing admin
	// account and leaves it alone (its password included). created reports
	// which. It never promotes an account: if one with the email exists
	// without the admin role, the error is ErrAdminEmailTaken (Conflict).
	// Invalid as for SignUp.
	EnsureAdmin(ctx context.Context, u NewUser) (user User, created bool, err error)

	// JWKS returns the public keys that verify the access tokens the
	// service issues.
	JWKS(ctx context.Context) (auth.JWKS, error)

	// ServiceToken checks a service account's client credentials (see
	// WithServiceAccounts) and issues it an access token like a user's (same
	// issuer, audience, key and lifetime) with subject
	// auth.ServiceSubject(name) and the single role auth.RoleService.
	// Unauthenticated "invalid client credentials" whether the client id is
	// unknown or the secret wrong, in comparable time; RateLimited (with a
	// retry hint) while throttled like logins, per client id and per client
	// address; Invalid if the id or the secret is empty.
	ServiceToken(ctx context.Context, c ClientCredentials) (AccessToken, error)
}

// ErrRefreshTokenReused is the cause of the Unauthenticated error Refresh
// returns for a refresh token that was already rotated: either the client
// lost a response and retried, or someone copied the token. The service
// cannot tell which, so it revokes the family; logs flag it.
var ErrRefreshTokenReused = errors.New("refresh token reused")

// ErrAdminEmailTaken is EnsureAdmin's error when an account with the
// admin's email exists without the admin role: someone else may have signed
// up with it, and promoting it would make them admin with their own
// password. An operator must look into it.
var ErrAdminEmailTaken = &errs.Error{
	Kind:    errs.Conflict,
	Message: "an account with the admin email exists and is not an admin; refusing to promote it (choose another -admin-email, or delete or promote that account by hand)",
}

// Errors the domain returns.
var (
	errInvalidCredentials  = errs.New(errs.Unauthenticated, "invalid email or password")
	errInvalidClient       = errs.New(errs.Unauthenticated, "invalid client credentials")
	errInvalidRefreshToken = errs.New(errs.Unauthenticated, "invalid or expired refresh token")
	errNotFound            = errs.New(errs.NotFound, "user not found")
)

// Account is a stored user with the hash of its password, as the Repository
// returns it. It never leaves the service.
type Account struct {
	User
	PasswordHash string `json:"-"` // never on the wire, even by mistake
}

// NewAccount is a validated user to store.
type NewAccount struct {
	Email        string
	Name         string
	PasswordHash string
	Roles        []string
}

// AccountChange is a validated, non-empty change to an account: nil and ""
// fields are left unchanged.
type AccountChange struct {
	Name         *string
	PasswordHash string
}

// RefreshToken is a stored refresh token: its hash, never the token.
type RefreshToken struct {
	Hash      []byte // SHA-256 of the token
	FamilyID  string // the login session it belongs to
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Rotation asks the Repository to use up the token with hash Presented and
// store Next in its place. Next's family and user are the presented
// token's; the Repository fills them in.
type Rotation struct {
	Presented []byte
	Next      RefreshToken
	// PruneRotatedBefore: tokens of the family rotated before it are
	// deleted (see WithReuseWindow).
	PruneRotatedBefore time.Time
}

// Repository stores accounts and refresh tokens. It receives validated,
// normalised input and reports failures as *errs.Error: NotFound for a
// missing user, Conflict for a duplicate email, Unavailable or Internal for
// database failures.
type Repository interface {
	// CreateUser inserts a, with its user.registered event in the same
	// transaction, and returns the stored user.
	CreateUser(ctx context.Context, a NewAccount) (User, error)
	// EnsureAdmin inserts a with its user.registered event, or, if an
	// account with its email exists, returns it unchanged if it is an admin
	// and ErrAdminEmailTaken if not. created reports which.
	EnsureAdmin(ctx context.Context, a NewAccount) (user User, created bool, err error)
	// AccountByEmail returns the account with email (normalised).
	AccountByEmail(ctx context.Context, email string) (Account, error)
	// AccountByID returns the account with id (a canonical UUID).
	AccountByID(ctx context.Context, id string) (Account, error)
	// UpdateAccount applies c. A new password hash also revokes every
	// refresh token of the user, in the same transaction, at time now.
	UpdateAccount(ctx context.Context, id string, c AccountChange, now time.Time) (User, error)

	// CreateRefreshToken stores t, the first token of a new family (a new
	// session). It may delete the user's expired tokens, and tokens rotated
	// before pruneRotatedBefore, on the way.
	CreateRefreshToken(ctx context.Context, t RefreshToken, pruneRotatedBefore time.Time) error
	// RotateRefreshToken marks the token r.Presented rotated at
	// r.Next.CreatedAt and stores r.Next in its family, atomically: of
	// concurrent rotations of one token exactly one succeeds. It returns the
	// user the tokens belong to. An unknown, revoked or expired token is an
	// Unauthenticated error; an already rotated one revokes its family and
	// returns an Unauthenticated error wrapping ErrRefreshTokenReused.
	RotateRefreshToken(ctx context.Context, r Rotation) (User, error)
	// RevokeRefreshFamily revokes, at time now, every token of the family
	// the token with hash belongs to, including any a rotation running at
	// the same time issues: once it returns, no token of the family can be
	// rotated. An unknown hash is no error.
	RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) error
}

// Middleware decorates a Service with a cross-cutting concern.
type Middleware func(Service) Service

// Option configures NewService.
type Option func(*service)

// WithBcryptCost sets the bcrypt cost of new password hashes (default
// DefaultBcryptCost). Existing hashes keep the cost they were made with.
// Tests lower it to bcrypt.MinCost to run fast; NewService rejects values
// outside bcrypt's range.
func WithBcryptCost(cost int) Option {
	return func(s *service) { s.bcryptCost = cost }
}

// WithRefreshTTL sets the lifetime of refresh tokens (default
// DefaultRefreshTTL).
func WithRefreshTTL(d time.Duration) Option {
	return func(s *service) { s.refreshTTL = d }
}

// WithLoginThrottle replaces the default login throttle
// (NewLoginThrottle(DefaultAccountFailures, DefaultClientFailures,
// DefaultThrottleWindow)); nil disables throttling.
func WithLoginThrottle(t *LoginThrottle) Option {
	return func(s *service) { s.throttle = t }
}

// WithServiceAccounts sets the service accounts ServiceToken accepts
// (default: none, so every client is refused).
func WithServiceAccounts(a *ServiceAccounts) Option {
	return func(s *service) { s.accounts = a }
}

// WithClock sets the clock used for token times, for tests of expiry.
func WithClock(now func() time.Time) Option {
	return func(s *service) { s.now = now }
}

// NewService returns the account service storing in repo and signing access
// tokens with signer. It computes one bcrypt hash up front (see Login), so
// it takes as long as a login.
func NewService(repo Repository, signer *Signer, opts ...Option) (Service, error) {
	s := &service{
		repo:        repo,
		signer:      signer,
		bcryptCost:  DefaultBcryptCost,
		refreshTTL:  DefaultRefreshTTL,
		reuseWindow: DefaultReuseWindow,
		throttle:    NewLoginThrottle(DefaultAccountFailures, DefaultClientFailures, DefaultThrottleWindow),
		signUps:     newSignUpThrottle(DefaultSignUpsPerClient, DefaultSignUpWindow),
		hashPool:    defaultHashPool(),
		now:         time.Now,
	}
	for _, opt := range opts {
		opt(s)
	}
	switch {
	case signer == nil:
		return nil, errors.New("user: NewService needs a Signer")
	case s.bcryptCost < bcrypt.MinCost || s.bcryptCost > bcrypt.MaxCost:
		return nil, fmt.Errorf("user: bcrypt cost %d out of range %d..%d", s.bcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	case s.refreshTTL <= 0:
		return nil, fmt.Errorf("user: refresh token lifetime %v must be positive", s.refreshTTL)
	case s.reuseWindow <= 0:
		return nil, fmt.Errorf("user: refresh token reuse window %v must be positive", s.reuseWindow)
	}
	// The hash an unknown email's password is compared with, so that a
	// login for an unknown email costs as much as one for a known email
	// with a wrong password: response times do not tell which emails have
	// accounts. The password is random and thrown away.
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), s.bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}
	s.dummyHash = string(dummy)
	return s, nil
}

type service struct {
	repo       Repository
	signer     *Signer
	bcryptCost int
	refreshTTL time.Duration
	// reuseWindow is how long a rotated refresh token is kept to detect
	// its reuse (WithReuseWindow).
	reuseWindow time.Duration
	throttle    *LoginThrottle
	signUps     *signUpThrottle
	hashPool    *HashPool
	accounts    *ServiceAccounts
	now         func() time.Time
	dummyHash   string
}
