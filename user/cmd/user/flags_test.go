package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/app"
)

func TestParseOptions(t *testing.T) {
	required := []string{"-database-url", "postgres://x", "-signing-key-file", "/k.pem"}
	with := func(extra ...string) []string { return append(slices.Clone(required), extra...) }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{name: "minimal", args: required},
		{name: "from environment", env: map[string]string{"USER_DATABASE_URL": "postgres://x", "USER_SIGNING_KEY_FILE": "/k.pem"}},
		{name: "admin from environment", args: with("-admin-email", "root@example.com"), env: map[string]string{"USER_ADMIN_PASSWORD": "secret pw"}},
		{name: "missing database url", args: []string{"-signing-key-file", "/k.pem"}, wantErr: "USER_DATABASE_URL"},
		{name: "missing key file", args: []string{"-database-url", "x"}, wantErr: "USER_SIGNING_KEY_FILE"},
		{name: "admin email without password", args: with("-admin-email", "root@example.com"), wantErr: "-admin-password"},
		{name: "admin password without email", args: with("-admin-password", "secret pw"), wantErr: "-admin-email"},
		{name: "bcrypt cost too low", args: with("-bcrypt-cost", "3"), wantErr: "-bcrypt-cost"},
		{name: "bcrypt cost too high", args: with("-bcrypt-cost", "32"), wantErr: "-bcrypt-cost"},
		{name: "zero token ttl", args: with("-token-ttl", "0s"), wantErr: "-token-ttl"},
		{name: "negative refresh ttl", args: with("-refresh-ttl", "-1h"), wantErr: "-refresh-ttl"},
		{name: "negative failures", args: with("-login-account-failures", "-1"), wantErr: "-login-account-failures"},
		{name: "bad log format", args: with("-log-format", "yaml"), wantErr: "-log-format"},
		{name: "bad env value", args: required, env: map[string]string{"USER_TRUST_FORWARDED_FOR": "maybe"}, wantErr: "USER_TRUST_FORWARDED_FOR"},
		{name: "unknown flag", args: with("-nope"), wantErr: "nope"},
		{name: "extra argument", args: with("extra"), wantErr: "unexpected arguments"},
		{name: "zero rate", args: with("-rate-limit", "0"), wantErr: "-rate-limit"},
		{name: "dev admin password", args: with("-admin-email", "root@example.com"), env: map[string]string{"USER_ADMIN_PASSWORD": "kitshop-admin-pw"}, wantErr: "-admin-password holds a well-known development value"},
		{name: "dev admin password in a dev stack", args: with("-admin-email", "root@example.com"), env: map[string]string{"USER_ADMIN_PASSWORD": "kitshop-admin-pw", "KITSHOP_DEV": "1"}},
		{name: "once-committed database password", args: []string{"-signing-key-file", "/k.pem", "-database-url", "postgres://kitshop_user:dev-user-24ab73edf096721dc8df958b@user-db:5432/user"}, wantErr: "-database-url holds a well-known"},
		{name: "once-committed service secret", args: with("-service-accounts", "order:local-order-account-6d1f0b3a9e7c4d25"), wantErr: "-service-accounts holds a well-known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var f flags
			o, err := app.Parse(spec(&f), tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseOptions: %v", err)
				}
				if o.DatabaseURL != "postgres://x" || f.signingKeyFile != "/k.pem" || !strings.HasPrefix(o.InstanceID, "user-") {
					t.Errorf("options %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	var f flags
	o, err := app.Parse(spec(&f), []string{"-database-url", "x", "-signing-key-file", "k"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.HTTPAddr != ":8083" || o.GRPCAddr != ":9083" || f.tokenTTL != 15*time.Minute || f.refreshTTL != 720*time.Hour ||
		o.Issuer != "kitshop-user" || o.Audience != "kitshop" || f.bcryptCost != 12 || f.trustForwardedFor || f.generateKey {
		t.Errorf("defaults %+v", o)
	}
}

func TestParseOptionsHelp(t *testing.T) {
	var usage bytes.Buffer
	var f flags
	_, err := app.Parse(spec(&f), []string{"-h"}, &usage)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-signing-key-file", "-admin-email", "-trust-forwarded-for", "-service-accounts"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %s", want)
		}
	}
}

func TestParseOptionsServiceAccounts(t *testing.T) {
	required := []string{"-database-url", "postgres://x", "-signing-key-file", "/k.pem"}
	secretFile := filepath.Join(t.TempDir(), "service-accounts")
	if err := os.WriteFile(secretFile, []byte("order:"+orderSecret+",audit:audit-secret-0123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantNames []string
		wantErr   string // substring; "" means success
	}{
		{name: "none", wantNames: nil},
		{name: "flag", args: []string{"-service-accounts", "order:" + orderSecret}, wantNames: []string{"order"}},
		{name: "environment", env: map[string]string{"USER_SERVICE_ACCOUNTS": "order:" + orderSecret + ", audit:audit-secret-0123456"},
			wantNames: []string{"audit", "order"}},
		{name: "file named in the environment", env: map[string]string{"USER_SERVICE_ACCOUNTS_FILE": secretFile}, wantNames: []string{"audit", "order"}},
		{name: "flag wins", args: []string{"-service-accounts", "order:" + orderSecret}, env: map[string]string{"USER_SERVICE_ACCOUNTS": "bad"},
			wantNames: []string{"order"}},
		{name: "short secret", args: []string{"-service-accounts", "order:" + orderSecret + ",audit:short-secret"}, wantErr: "-service-accounts: service accounts entry 2"},
		{name: "bad name from the environment", env: map[string]string{"USER_SERVICE_ACCOUNTS": "Order:" + orderSecret}, wantErr: "entry 1"},
		{name: "secret without a name", args: []string{"-service-accounts", orderSecret}, wantErr: "entry 1: want name:secret"},
		{name: "duplicate", args: []string{"-service-accounts", "order:" + orderSecret + ",order:" + orderSecret}, wantErr: "entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var usage bytes.Buffer
			var f flags
			o, err := app.Parse(spec(&f), append(slices.Clone(required), tt.args...), &usage)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error()+usage.String(), orderSecret) || strings.Contains(err.Error(), "short-secret") {
					t.Errorf("error or usage repeats a secret: %v %s", err, usage.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			if got := f.serviceAccounts.Names(); !slices.Equal(got, tt.wantNames) {
				t.Errorf("service accounts = %v, want %v", got, tt.wantNames)
			}
			if s := fmt.Sprintf("%+v %#v %+v", o, o, f.serviceAccounts); strings.Contains(s, orderSecret) {
				t.Errorf("printed options contain the secret: %s", s)
			}
		})
	}
}
