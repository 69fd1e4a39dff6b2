package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/migrations"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

func TestFor(t *testing.T) {
	for service, first := range map[string]string{"product": "00001_products.sql", "user": "00001_users.sql"} {
		t.Run(service, func(t *testing.T) {
			fsys, err := migrations.For(service)
			if err != nil {
				t.Fatal(err)
			}
			names, err := fs.Glob(fsys, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(names, first) {
				t.Errorf("%s migrations = %v, want %s among them", service, names, first)
			}
			for _, name := range names {
				b, err := fs.ReadFile(fsys, name)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "-- +goose Down") {
					t.Errorf("%s lacks a -- +goose Up or Down section", name)
				}
			}
		})
	}
}

func TestForRejects(t *testing.T) {
	for _, service := range []string{"", "nope", "seed", "..", "../migrations", "product/..", "Product", "a/b"} {
		if _, err := migrations.For(service); err == nil {
			t.Errorf("For(%q) succeeded, want an error", service)
		}
	}
}

func TestSeed(t *testing.T) {
	b, err := migrations.Seed("product")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ON CONFLICT (sku) DO NOTHING") {
		t.Error("product seed is not idempotent (no ON CONFLICT (sku) DO NOTHING)")
	}
	for _, service := range []string{"", "nope", "../product/00001_products", "product.sql"} {
		if _, err := migrations.Seed(service); err == nil {
			t.Errorf("Seed(%q) succeeded, want an error", service)
		}
	}
}

// TestProductSchema applies the product migrations to a real database, seeds
// it twice (the seed is idempotent), and migrates down and up again.
func TestProductSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := migrations.For("product")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}

	seed, err := migrations.Seed("product")
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM products`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := db.ExecContext(ctx, string(seed)); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	seeded := count()
	if seeded < 15 {
		t.Errorf("seed created %d products, want about 20", seeded)
	}
	// A product changed through the API survives a second seed.
	if _, err := db.ExecContext(ctx, `UPDATE products SET stock = 7 WHERE sku = 'BK-GOPL-01'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, string(seed)); err != nil {
		t.Fatalf("seeding again: %v", err)
	}
	if n := count(); n != seeded {
		t.Errorf("second seed: %d products, want %d", n, seeded)
	}
	var stock int
	if err := db.QueryRowContext(ctx, `SELECT stock FROM products WHERE sku = 'BK-GOPL-01'`).Scan(&stock); err != nil {
		t.Fatal(err)
	}
	if stock != 7 {
		t.Errorf("second seed reset stock to %d", stock)
	}

	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('products') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("products table still exists after migrating down")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// TestUserSchema applies the user migrations to a real database, checks that
// the schema itself enforces the rules that matter most for security, and
// migrates down and up again.
func TestUserSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := migrations.For("user")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}

	const hash = "$2a$04$abcdefghijklmnopqrstuu"
	if _, err := db.ExecContext(ctx, `INSERT INTO users (email, name, password_hash) VALUES ('ann@example.com', 'Ann', $1)`, hash); err != nil {
		t.Fatalf("valid insert: %v", err)
	}
	var roles string
	if err := db.QueryRowContext(ctx, `SELECT roles::text FROM users`).Scan(&roles); err != nil || roles != "{customer}" {
		t.Errorf("default roles %q, %v; want {customer}", roles, err)
	}
	for name, stmt := range map[string]string{
		"email differing in case": `INSERT INTO users (email, name, password_hash) VALUES ('ANN@example.com', 'Ann', '` + hash + `')`,
		"untrimmed name":          `INSERT INTO users (email, name, password_hash) VALUES ('b@example.com', ' B', '` + hash + `')`,
		"plain-text password":     `INSERT INTO users (email, name, password_hash) VALUES ('c@example.com', 'C', 'hunter22')`,
		"unknown role":            `INSERT INTO users (email, name, password_hash, roles) VALUES ('d@example.com', 'D', '` + hash + `', '{customer,root}')`,
		"admin but no customer":   `INSERT INTO users (email, name, password_hash, roles) VALUES ('e@example.com', 'E', '` + hash + `', '{admin}')`,
		"short token hash": `INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
			SELECT '\x00'::bytea, gen_random_uuid(), id, now(), now() + interval '1 hour' FROM users`,
		"token for nobody": `INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
			VALUES (sha256('x'), gen_random_uuid(), gen_random_uuid(), now(), now() + interval '1 hour')`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s: insert succeeded, want a constraint violation", name)
		}
	}

	// Deleting a user deletes its sessions and refresh tokens.
	if _, err := db.ExecContext(ctx, `
		WITH f AS (INSERT INTO refresh_families (id, user_id, created_at)
			SELECT gen_random_uuid(), id, now() FROM users RETURNING id, user_id)
		INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
		SELECT sha256('x'), f.id, f.user_id, now(), now() + interval '1 hour' FROM f`); err != nil {
		t.Fatalf("token insert: %v", err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM users`); err != nil {
		t.Fatal(err)
	}
	var tokens int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&tokens); err != nil || tokens != 0 {
		t.Errorf("%d tokens left after deleting their user (%v)", tokens, err)
	}

	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('users') IS NOT NULL OR to_regclass('refresh_tokens') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("tables still exist after migrating down")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
