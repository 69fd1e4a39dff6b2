package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// Roles the user service grants. A user has at least RoleCustomer; a
// service account (see ClientCredentials) has exactly RoleService.
const (
	RoleAdmin    = "admin"
	RoleCustomer = "customer"
	// RoleService is the role of the tokens services obtain for calls to
	// other services. Operations meant for services only (reserving stock)
	// require it, and no user account can have it.
	RoleService = "service"
)

// ServiceSubjectPrefix starts the "sub" of a service account's token:
// "service:order". A user id is a UUID, so the two never collide.
const ServiceSubjectPrefix = "service:"

// ServiceSubject returns the "sub" of the tokens of the service account
// name.
func ServiceSubject(name string) string { return ServiceSubjectPrefix + name }

// Service returns the name of the service account the identity is, and
// false for users: the identity must have RoleService and a "sub" made by
// ServiceSubject. Logs use it to say which service called.
func (id Identity) Service() (name string, ok bool) {
	name, ok = strings.CutPrefix(id.UserID, ServiceSubjectPrefix)
	if !ok || name == "" || !id.HasRole(RoleService) {
		return "", false
	}
	return name, true
}

// Identity is the verified caller of a request, as stated by its token.
type Identity struct {
	UserID    string    // the token's "sub"
	Roles     []string  // the token's "roles"
	TokenID   string    // the token's "jti"; empty if the issuer set none
	ExpiresAt time.Time // the token's "exp"
}

// HasRole reports whether the identity has role r.
func (id Identity) HasRole(r string) bool {
	return slices.Contains(id.Roles, r)
}

type identityKey struct{}

// NewContext returns a copy of ctx carrying id. Authenticate and Optional
// call it; tests of a service layer may call it directly.
func NewContext(ctx context.Context, id Identity) context.Context {
	id.Roles = slices.Clone(id.Roles)
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity on ctx and whether there is one. There is
// none for anonymous requests.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	if !ok {
		return Identity{}, false
	}
	id.Roles = slices.Clone(id.Roles) // callers must not change the context's copy
	return id, true
}

// RequireRole returns nil if the caller on ctx has role. It returns
// errs.Unauthenticated when there is no caller (the client should log in) and
// errs.Forbidden when the caller lacks the role (logging in again won't help).
func RequireRole(ctx context.Context, role string) error {
	id, ok := FromContext(ctx)
	if !ok {
		return errAuthRequired()
	}
	if !id.HasRole(role) {
		return errs.New(errs.Forbidden, "permission denied")
	}
	return nil
}

// RequireOwnerOrAdmin returns nil if the caller on ctx is the user ownerID or
// an admin. It returns errs.Unauthenticated when there is no caller and
// errs.Forbidden otherwise. A service that must not reveal whether another
// user's resource exists turns that Forbidden into its own NotFound:
//
//	if err := auth.RequireOwnerOrAdmin(ctx, order.UserID); errs.Is(err, errs.Forbidden) {
//		return Order{}, errs.New(errs.NotFound, "order not found")
//	}
func RequireOwnerOrAdmin(ctx context.Context, ownerID string) error {
	id, ok := FromContext(ctx)
	if !ok {
		return errAuthRequired()
	}
	if (ownerID != "" && id.UserID == ownerID) || id.HasRole(RoleAdmin) {
		return nil
	}
	return errs.New(errs.Forbidden, "permission denied")
}

// errAuthRequired is the error for a request that carries no credentials.
func errAuthRequired() error {
	return errs.New(errs.Unauthenticated, "authentication required")
}
