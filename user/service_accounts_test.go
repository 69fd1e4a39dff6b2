package user_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/user"
)

func TestValidServiceAccountName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"order", true},
		{"ab", true},
		{"order-v2", true},
		{"o2", true},
		{strings.Repeat("a", 32), true},
		{"a", false},
		{strings.Repeat("a", 33), false},
		{"", false},
		{"Order", false},
		{"2order", false},
		{"-order", false},
		{"order_v2", false},
		{"order:x", false},
		{"ordér", false},
		{"order ", false},
	}
	for _, tt := range tests {
		if got := user.ValidServiceAccountName(tt.name); got != tt.want {
			t.Errorf("ValidServiceAccountName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseServiceAccounts(t *testing.T) {
	const (
		secret  = "s3cret-for-order-svc"
		secret2 = "an0ther:secret-with-colons"
	)
	tests := []struct {
		name      string
		spec      string
		wantNames []string
		wantErr   []string // substrings of the error; nil: success
		secrets   []string // must not appear in the error
	}{
		{name: "empty", spec: "", wantNames: []string{}},
		{name: "blank", spec: "  ", wantNames: []string{}},
		{name: "one", spec: "order:" + secret, wantNames: []string{"order"}},
		{name: "two, spaces around entries", spec: " order:" + secret + " , audit : " + secret2 + " ", wantNames: []string{"audit", "order"}},
		{name: "secret with colons", spec: "audit:" + secret2, wantNames: []string{"audit"}},
		{name: "secret of exactly 16 characters", spec: "order:0123456789abcdef", wantNames: []string{"order"}},
		{name: "secret of 16 two-byte characters", spec: "order:" + strings.Repeat("é", 16), wantNames: []string{"order"}},

		{name: "trailing comma", spec: "order:" + secret + ",", wantErr: []string{"entry 2 is empty"}, secrets: []string{secret}},
		{name: "no colon", spec: secret, wantErr: []string{"entry 1: want name:secret"}, secrets: []string{secret}},
		{name: "upper-case name", spec: "Order:" + secret, wantErr: []string{"entry 1:", "the name must be"}, secrets: []string{secret, "Order"}},
		{name: "secret and name swapped", spec: secret + ":order", wantErr: []string{"entry 1:", "at least 16 characters"}, secrets: []string{secret}},
		{name: "invalid secret-like name", spec: "S3cret-For-Order:order", wantErr: []string{"entry 1:", "the name must be"}, secrets: []string{"S3cret-For-Order"}},
		{name: "name too short", spec: "o:" + secret, wantErr: []string{"entry 1:", "the name must be"}, secrets: []string{secret}},
		{name: "empty name", spec: ":" + secret, wantErr: []string{"entry 1:", "the name must be"}, secrets: []string{secret}},
		{name: "secret of 15 characters", spec: "order:0123456789abcde", wantErr: []string{"entry 1: the secret must be at least 16 characters"},
			secrets: []string{"0123456789abcde"}},
		{name: "empty secret", spec: "order:", wantErr: []string{"entry 1: the secret must be at least 16"}},
		{name: "secret too long", spec: "order:" + strings.Repeat("x", 1025), wantErr: []string{"entry 1: the secret must be at most 1024 bytes"},
			secrets: []string{strings.Repeat("x", 1025)}},
		{name: "listed twice", spec: "order:" + secret + ",order:" + secret2, wantErr: []string{"entry 2: the name is that of entry 1"},
			secrets: []string{secret, secret2}},
		{name: "every problem reported", spec: "order:short,Bad:" + secret + ",,audit:" + secret2,
			wantErr: []string{"entry 1: the secret", "entry 2: the name", "entry 3 is empty"}, secrets: []string{"short", secret, "Bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := user.ParseServiceAccounts(tt.spec)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseServiceAccounts: %v", err)
				}
				if names := got.Names(); !slices.Equal(names, tt.wantNames) && len(names)+len(tt.wantNames) > 0 {
					t.Errorf("names = %v, want %v", names, tt.wantNames)
				}
				if got.Len() != len(tt.wantNames) {
					t.Errorf("Len = %d, want %d", got.Len(), len(tt.wantNames))
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseServiceAccounts accepted %q: %v", tt.spec, got)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			for _, secret := range tt.secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats %q", err, secret)
				}
			}
		})
	}
}

func TestServiceAccountsCheck(t *testing.T) {
	const secret = "s3cret-for-order-svc"
	accounts, err := user.ParseServiceAccounts("order:" + secret + ",audit:audit-secret-0123456")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		accounts *user.ServiceAccounts
		id       string
		secret   string
		want     bool
	}{
		{"right secret", accounts, "order", secret, true},
		{"other account's secret", accounts, "audit", secret, false},
		{"wrong secret", accounts, "order", secret + "x", false},
		{"prefix of the secret", accounts, "order", secret[:16], false},
		{"empty secret", accounts, "order", "", false},
		{"unknown account", accounts, "billing", secret, false},
		{"id in another case", accounts, "Order", secret, false},
		{"no accounts", nil, "order", secret, false},
		{"zero value", &user.ServiceAccounts{}, "order", secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.accounts.Check(tt.id, tt.secret); got != tt.want {
				t.Errorf("Check(%q, …) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

// Printing the accounts, as a careless log line or a test failure might,
// shows the names only.
func TestServiceAccountsPrintNoSecrets(t *testing.T) {
	const secret = "s3cret-for-order-svc"
	accounts, err := user.ParseServiceAccounts("order:" + secret)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{accounts, *accounts, struct{ A *user.ServiceAccounts }{accounts}} {
			got := fmt.Sprintf(verb, v)
			if strings.Contains(got, secret) || strings.Contains(got, hex.EncodeToString(sum[:4])) || strings.Contains(got, fmt.Sprint(sum[0], " ", sum[1])) {
				t.Errorf("Sprintf(%s, %T) = %s: shows the secret or its hash", verb, v, got)
			}
		}
	}
	if got := accounts.String(); got != "service accounts [order]" {
		t.Errorf("String = %q", got)
	}
}
