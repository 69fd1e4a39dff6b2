package user

import (
	"context"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

func (s *service) SignUp(ctx context.Context, u NewUser) (User, error) {
	u, err := ValidateNew(u)
	if err != nil {
		return User{}, err
	}
	if err := s.signUps.allow(u.ClientIP, s.now()); err != nil {
		return User{}, err
	}
	// Hashed whether or not the email is taken, so both take as long.
	hash, err := s.hash(ctx, u.Password)
	if err != nil {
		return User{}, err
	}
	created, err := s.repo.CreateUser(ctx, NewAccount{
		Email: u.Email, Name: u.Name, PasswordHash: hash, Roles: []string{auth.RoleCustomer},
	})
	if errs.Is(err, errs.Conflict) {
		return User{}, nil // taken: see the interface
	}
	return created, err
}

func (s *service) Get(ctx context.Context, id string) (User, error) {
	id, err := s.authorize(ctx, id)
	if err != nil {
		return User{}, err
	}
	acct, err := s.repo.AccountByID(ctx, id)
	if err != nil {
		return User{}, err
	}
	return acct.User, nil
}

func (s *service) Update(ctx context.Context, id string, patch Patch) (User, error) {
	id, err := s.authorize(ctx, id)
	if err != nil {
		return User{}, err
	}
	patch, err = ValidatePatch(patch)
	if err != nil {
		return User{}, err
	}
	change := AccountChange{Name: patch.Name}
	if patch.Password != nil {
		acct, err := s.repo.AccountByID(ctx, id)
		if err != nil {
			return User{}, err
		}
		var v validator
		v.password(*patch.Password, acct.Email)
		if err := v.Err(); err != nil {
			return User{}, err
		}
		// A stolen access token must not be a way to guess the password
		// at leisure: wrong current passwords count against the account
		// like failed logins.
		now := s.now()
		if err := s.throttle.Allow(userKey(acct.Email), "", now); err != nil {
			return User{}, err
		}
		matches, err := s.passwordMatches(ctx, acct.PasswordHash, *patch.CurrentPassword)
		if err != nil {
			return User{}, err
		}
		if !matches {
			s.throttle.Fail(userKey(acct.Email), "", now)
			return User{}, &errs.Error{
				Kind:    errs.Invalid,
				Message: "current password is incorrect",
				Fields:  []errs.FieldError{{Field: "current_password", Message: "is incorrect"}},
			}
		}
		if change.PasswordHash, err = s.hash(ctx, *patch.Password); err != nil {
			return User{}, err
		}
	}
	return s.repo.UpdateAccount(ctx, id, change, s.now())
}

// authorize parses id and checks that the caller may see and change that
// user: the user itself or an admin. Anyone else is told the user does not
// exist, as if the id were unknown.
func (s *service) authorize(ctx context.Context, id string) (string, error) {
	if _, ok := auth.FromContext(ctx); !ok {
		// No caller at all: log in first, whatever the id.
		return "", errs.New(errs.Unauthenticated, "authentication required")
	}
	id, err := ParseID(id)
	if err != nil {
		return "", err
	}
	if err := auth.RequireOwnerOrAdmin(ctx, id); err != nil {
		if errs.Is(err, errs.Forbidden) {
			return "", errNotFound
		}
		return "", err
	}
	return id, nil
}

func (s *service) EnsureAdmin(ctx context.Context, u NewUser) (User, bool, error) {
	u, err := ValidateNew(u)
	if err != nil {
		return User{}, false, err
	}
	hash, err := s.hash(ctx, u.Password)
	if err != nil {
		return User{}, false, err
	}
	return s.repo.EnsureAdmin(ctx, NewAccount{
		Email: u.Email, Name: u.Name, PasswordHash: hash, Roles: []string{auth.RoleCustomer, auth.RoleAdmin},
	})
}
