// Package migrations embeds every service's database schema and seed data, so
// a service binary carries exactly the schema it was built against.
//
// Layout: migrations/<service>/NNNNN_<name>.sql are goose migrations (with
// -- +goose Up / -- +goose Down sections) applied by kit/postgres.Migrate;
// migrations/seed/<service>.sql is optional demo data, written to be
// idempotent (INSERT … ON CONFLICT DO NOTHING) so it can run on every start.
//
// A new service adds its directory here and nothing else: the embed
// directive takes the .sql files of every directory.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

// files holds migrations/<dir>/*.sql for every directory, seed/ included.
//
//go:embed */*.sql
var files embed.FS

// For returns the goose migrations of service, rooted so that the .sql files
// are at the top level, ready for kit/postgres.Migrate.
func For(service string) (fs.FS, error) {
	if !validName(service) || service == "seed" {
		return nil, fmt.Errorf("migrations: invalid service name %q", service)
	}
	sub, err := fs.Sub(files, service)
	if err != nil {
		return nil, fmt.Errorf("migrations: %s: %w", service, err)
	}
	// fs.Sub succeeds for directories that do not exist; an empty set of
	// migrations for a misspelt service would silently create no tables.
	entries, err := fs.Glob(sub, "*.sql")
	if err != nil || len(entries) == 0 {
		return nil, fmt.Errorf("migrations: no migrations for service %q", service)
	}
	return sub, nil
}

// Seed returns the seed SQL of service. Running it more than once is safe.
func Seed(service string) ([]byte, error) {
	if !validName(service) {
		return nil, fmt.Errorf("migrations: invalid service name %q", service)
	}
	b, err := files.ReadFile("seed/" + service + ".sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: no seed data for service %q: %w", service, err)
	}
	return b, nil
}

// validName accepts plain directory names only, so a caller cannot reach
// outside the service's own directory ("..", "a/b", "").
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}
