package user

import (
	"slices"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/validate"
)

// ParseID returns id in canonical form (lower-case, hyphenated) or an Invalid
// error. Only the canonical 36-character form is accepted.
func ParseID(id string) (string, error) { return validate.ID(id, "malformed user id") }

// normalizeRoles returns roles in a stable order (customer before admin) so
// that equal role sets compare equal.
func normalizeRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.SortFunc(out, func(a, b string) int { return roleRank(a) - roleRank(b) })
	return slices.Compact(out)
}

func roleRank(r string) int {
	switch r {
	case auth.RoleCustomer:
		return 0
	case auth.RoleAdmin:
		return 1
	}
	return 2
}
