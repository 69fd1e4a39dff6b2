package main

import (
	"errors"
	"flag"
	"time"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the notification service's own settings: where its emails go.
type flags struct {
	smtp      notification.SMTPConfig
	emailPoll time.Duration
}

// spec describes the notification service to kit/app, with its own flags in f.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("notification") // embedded: it exists
	return app.Spec{
		Name: "notification", HTTPAddr: ":8086", GRPCAddr: ":9086", MetricsAddr: "127.0.0.1:9286",
		// A ceiling that protects the database, not a per-client quota.
		RateLimit: 50000, RateBurst: 50000,
		Schema:      schema,
		Auth:        app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience, Service: "user"},
		Events:      true,
		SecretFlags: []string{"smtp-password"},
		DevSecrets:  devsecrets.Values,
		Flags: func(fs *flag.FlagSet) func() error {
			fs.StringVar(&f.smtp.Addr, "smtp-addr", "", `SMTP server (host:port) that sends the notifications by email; "" sends no email (in-app notifications only)`)
			fs.StringVar(&f.smtp.From, "smtp-from", "", `sender of the emails, e.g. "kitshop <shop@example.com>" (required with -smtp-addr)`)
			fs.StringVar(&f.smtp.Username, "smtp-username", "", "SMTP user name (AUTH PLAIN, over STARTTLS unless the server is on localhost); empty sends without authenticating")
			fs.StringVar(&f.smtp.Password, "smtp-password", "", "SMTP password, with -smtp-username (prefer NOTIFICATION_SMTP_PASSWORD_FILE)")
			fs.DurationVar(&f.emailPoll, "email-poll-interval", 5*time.Second, "how often the email sender looks for due emails (retries, and emails other instances queued) without being woken")
			return func() error {
				if f.emailPoll <= 0 {
					return errors.New("-email-poll-interval must be positive")
				}
				if f.smtp.Addr == "" {
					if f.smtp.From != "" || f.smtp.Username != "" || f.smtp.Password != "" {
						return errors.New("-smtp-from, -smtp-username and -smtp-password need -smtp-addr")
					}
					return nil
				}
				if (f.smtp.Username == "") != (f.smtp.Password == "") {
					return errors.New("-smtp-username and -smtp-password go together")
				}
				if f.smtp.From == "" {
					return errors.New("-smtp-from is required with -smtp-addr")
				}
				_, err := notification.NewSMTPMailer(f.smtp) // checks the address and the sender
				return err
			}
		},
	}
}
