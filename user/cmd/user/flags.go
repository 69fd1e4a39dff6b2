package main

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/user"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the user service's own settings.
type flags struct {
	signingKeyFile            string
	generateKey               bool
	tokenTTL, refreshTTL      time.Duration
	bcryptCost                int
	adminEmail, adminPassword string
	adminName                 string
	trustForwardedFor         bool
	accountFailures           int
	clientFailures            int
	throttleWindow            time.Duration
	signUpsPerClient          int
	signUpWindow              time.Duration
	hashWorkers, hashQueue    int
	serviceAccounts           *user.ServiceAccounts // names and secret hashes only
}

// spec describes the user service to kit/app, with its own flags in f. The
// issuer and audience flags name the claims of the tokens it signs.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("user") // embedded: it exists
	return app.Spec{
		Name: "user", HTTPAddr: ":8083", GRPCAddr: ":9083", MetricsAddr: "127.0.0.1:9283",
		RateLimit: 1000, RateBurst: 2000,
		Schema:      schema,
		Events:      true, // user.registered, through the outbox
		Auth:        app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience},
		SecretFlags: []string{"admin-password", "service-accounts"},
		DevSecrets:  devsecrets.Values,
		Flags: func(fs *flag.FlagSet) func() error {
			fs.StringVar(&f.signingKeyFile, "signing-key-file", "", "PEM (PKCS #8) Ed25519 private key signing the access tokens; every instance needs the same one (required)")
			fs.BoolVar(&f.generateKey, "generate-key", false, "create -signing-key-file with a new key (mode 0600) if it does not exist")
			fs.DurationVar(&f.tokenTTL, "token-ttl", user.DefaultAccessTTL, "lifetime of access tokens")
			fs.DurationVar(&f.refreshTTL, "refresh-ttl", user.DefaultRefreshTTL, "lifetime of refresh tokens (each refresh issues a new one)")
			fs.IntVar(&f.bcryptCost, "bcrypt-cost", user.DefaultBcryptCost, "bcrypt cost of new password hashes (lower only for tests)")
			fs.StringVar(&f.adminEmail, "admin-email", "", "create this admin account at start if it does not exist (an existing account must already be an admin: it is never promoted)")
			fs.StringVar(&f.adminPassword, "admin-password", "", "password of a created -admin-email account (prefer USER_ADMIN_PASSWORD); an existing admin keeps its own")
			fs.StringVar(&f.adminName, "admin-name", "Administrator", "name of a created -admin-email account")
			fs.BoolVar(&f.trustForwardedFor, "trust-forwarded-for", false, "take the client address from X-Forwarded-For (only behind the gateway)")
			fs.IntVar(&f.accountFailures, "login-account-failures", user.DefaultAccountFailures, "failed logins per account per -login-window before 429; 0 disables")
			fs.IntVar(&f.clientFailures, "login-client-failures", user.DefaultClientFailures, "failed logins per client address per -login-window before 429; 0 disables")
			fs.DurationVar(&f.throttleWindow, "login-window", user.DefaultThrottleWindow, "period over which the login failure budgets refill")
			fs.IntVar(&f.signUpsPerClient, "signup-client-limit", user.DefaultSignUpsPerClient, "sign-ups per client address (IPv6: per /64) per -signup-window before 429; 0 disables")
			fs.DurationVar(&f.signUpWindow, "signup-window", user.DefaultSignUpWindow, "period over which the sign-up budget refills")
			fs.IntVar(&f.hashWorkers, "hash-workers", 0, "password hashes (bcrypt) computed at once; 0 means one per CPU")
			fs.IntVar(&f.hashQueue, "hash-queue", -1, "password hashes that may wait for a worker before 503; -1 means 4 per worker")
			// A plain string, parsed below: a flag.Value rejecting it would
			// have the flag package repeat the value, secrets included.
			accounts := fs.String("service-accounts", "",
				`service accounts that may get tokens at POST /api/v1/auth/token, as "name:secret,name2:secret2" (secrets of 16+ characters; prefer USER_SERVICE_ACCOUNTS_FILE)`)
			return func() error {
				problems := []error{config.Require(fs, "USER", "signing-key-file")}
				if f.tokenTTL <= 0 || f.refreshTTL <= 0 || f.throttleWindow <= 0 || f.signUpWindow <= 0 {
					problems = append(problems, errors.New("-token-ttl, -refresh-ttl, -login-window and -signup-window must be positive"))
				}
				if f.signUpsPerClient < 0 || f.hashWorkers < 0 || f.hashQueue < -1 || f.accountFailures < 0 || f.clientFailures < 0 {
					problems = append(problems, errors.New("-signup-client-limit, -hash-workers, -login-account-failures and -login-client-failures must not be negative, -hash-queue not below -1"))
				}
				if f.bcryptCost < bcrypt.MinCost || f.bcryptCost > bcrypt.MaxCost {
					problems = append(problems, fmt.Errorf("-bcrypt-cost %d: want %d to %d", f.bcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
				}
				if (f.adminEmail == "") != (f.adminPassword == "") {
					problems = append(problems, errors.New("-admin-email and -admin-password go together"))
				}
				if f.hashWorkers == 0 {
					f.hashWorkers = runtime.GOMAXPROCS(0)
				}
				if f.hashQueue < 0 {
					f.hashQueue = 4 * f.hashWorkers
				}
				var err error
				if f.serviceAccounts, err = user.ParseServiceAccounts(*accounts); err != nil {
					problems = append(problems, fmt.Errorf("-service-accounts: %w", err))
				}
				return errors.Join(problems...)
			}
		},
	}
}
