package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// getProduct is the product service's query (product.Postgres.Get): the same
// columns in the same order, by primary key.
const getProduct = `SELECT id::text, sku, name, description, price_minor, currency, stock, created_at, updated_at
FROM products WHERE id = $1`

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bare: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8090", "HTTP listen address")
	dbURL := flag.String("database-url", os.Getenv("BARE_DATABASE_URL"), "Postgres URL of the product database (default $BARE_DATABASE_URL)")
	// pgxpool's default, max(4, NumCPU), is also what the product service
	// runs with (kit/postgres.Open leaves it alone): with the database on the
	// same few cores, more connections only add contention, and equal pools
	// keep the comparison about the code, not the pool.
	maxConns := flag.Int("max-conns", 0, "connection pool size; 0 means pgxpool's default, max(4, number of CPUs), as in the product service")
	flag.Parse()
	if *dbURL == "" {
		return errors.New("-database-url is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	if *maxConns > 0 {
		cfg.MaxConns = int32(*maxConns)
	}
	// Open every connection up front, so the first requests measured do
	// not pay for connecting.
	cfg.MinConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pool.Ping(pingCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !isUUID(id) {
			writeError(w, http.StatusBadRequest, "invalid product id")
			return
		}
		var p product
		err := pool.QueryRow(r.Context(), getProduct, id).Scan(
			&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceMinor, &p.Currency, &p.Stock, &p.CreatedAt, &p.UpdatedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			writeError(w, http.StatusNotFound, "product not found")
			return
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
		// As the service does: pgx hands back local time, the API is UTC.
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		body, err := json.Marshal(p)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "encoding failed")
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(append(body, '\n')) // the service ends its bodies with a newline too
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Fprintf(os.Stderr, "bare: listening on %s, pool of %d connections\n", ln.Addr(), cfg.MaxConns)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
