package config_test

import (
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/config"
)

func TestRefuseDevSecret(t *testing.T) {
	known := []string{"kitshop-admin-pw", "kitshop", "dev-order-secret"}
	tests := []struct {
		name    string
		setting string
		value   string
		dev     bool
		refused bool
	}{
		{name: "dev value", setting: "admin-password", value: "kitshop-admin-pw", refused: true},
		{name: "dev value with -dev", setting: "admin-password", value: "kitshop-admin-pw", dev: true},
		{name: "own value", setting: "admin-password", value: "5b1f0c9e2d7a", refused: false},
		{name: "empty", setting: "admin-password", value: ""},
		{name: "URL with dev password", setting: "database-url", value: "postgres://kitshop:kitshop@127.0.0.1:55432/product?sslmode=disable", refused: true},
		{name: "URL with dev user only", setting: "database-url", value: "postgres://kitshop:9f8e7d@db:5432/kitshop"},
		{name: "URL with dev password and -dev", setting: "database-url", value: "postgres://kitshop:kitshop@127.0.0.1:55432/product", dev: true},
		{name: "account list with dev secret", setting: "service-accounts", value: "billing:x1y2z3, order:dev-order-secret", refused: true},
		{name: "account list of own secrets", setting: "service-accounts", value: "order:a1b2c3"},
		{name: "substring is not a match", setting: "admin-password", value: "kitshop-admin-pw-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := config.RefuseDevSecret(tt.setting, tt.value, tt.dev, known...)
			if (err != nil) != tt.refused {
				t.Fatalf("RefuseDevSecret = %v, want refused %v", err, tt.refused)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "-"+tt.setting) {
					t.Errorf("error %q does not name -%s", err, tt.setting)
				}
				for _, k := range known {
					if strings.Contains(err.Error(), k) {
						t.Errorf("error %q repeats the value", err)
					}
				}
			}
		})
	}
}
