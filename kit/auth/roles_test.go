package auth_test

import (
	"context"
	"testing"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

func TestAnyRole(t *testing.T) {
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	ep := auth.AnyRole(auth.RoleService, auth.RoleAdmin)(ok)
	tests := []struct {
		name    string
		ctx     context.Context
		wantErr bool
		kind    errs.Kind
	}{
		{"service", auth.NewContext(context.Background(), auth.Identity{UserID: "svc:order", Roles: []string{auth.RoleService}}), false, 0},
		{"admin", auth.NewContext(context.Background(), auth.Identity{UserID: "u-1", Roles: []string{auth.RoleCustomer, auth.RoleAdmin}}), false, 0},
		{"customer", auth.NewContext(context.Background(), auth.Identity{UserID: "u-2", Roles: []string{auth.RoleCustomer}}), true, errs.Forbidden},
		{"anonymous", context.Background(), true, errs.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ep(tt.ctx, nil)
			if (err != nil) != tt.wantErr || tt.wantErr && errs.KindOf(err) != tt.kind {
				t.Errorf("err = %v, want kind %v (error: %v)", err, tt.kind, tt.wantErr)
			}
		})
	}
}
