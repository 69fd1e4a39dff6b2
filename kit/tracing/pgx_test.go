package tracing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/tracing"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSQLTracer runs statements on a real pool with the tracer (and a
// Guard, as kit/app does): a statement under a recorded span gets a span
// of its own with its text and never its arguments; a failed one carries
// the SQLSTATE; a statement without a recorded span gets none.
func TestSQLTracer(t *testing.T) {
	rec := record(t, 1)
	ctx := context.Background()
	guard := postgres.NewGuard(postgres.GuardOptions{})
	defer guard.Stop()
	pool, err := postgres.Open(ctx, testenv.Database(t), postgres.WithTracer(tracing.NewSQLTracer()), postgres.WithGuard(guard))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	const secret = "hunter2-secret-argument"
	var got string
	if err := pool.QueryRow(ctx, `SELECT $1::text`, secret).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans for a statement outside any span, want none", n)
	}

	rctx, parent := otel.Tracer("test").Start(ctx, "endpoint")
	if err := pool.QueryRow(rctx, `SELECT $1::text`, secret).Scan(&got); err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(rctx, `INSERT INTO no_such_table VALUES (1)`)
	if err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT 1`)
	batch.Queue(`SELECT 2`)
	if err := pool.SendBatch(rctx, batch).Close(); err != nil {
		t.Fatal(err)
	}
	parent.End()

	byName := map[string]bool{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = true
		if s.Name() == "endpoint" {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %q: parent %s kind %s, want a client span under the endpoint", s.Name(), s.Parent().SpanID(), s.SpanKind())
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), secret) {
				t.Errorf("span %q: attribute %s holds the argument", s.Name(), kv.Key)
			}
		}
		if s.Name() == "SQL INSERT" {
			if s.Status().Code != codes.Error {
				t.Errorf("the failed insert's span has status %v", s.Status())
			}
			for _, kv := range s.Attributes() {
				if kv.Key == "error.type" && kv.Value.AsString() != "42P01" {
					t.Errorf("error.type %q, want the SQLSTATE 42P01", kv.Value.AsString())
				}
			}
		}
	}
	for _, want := range []string{"SQL SELECT", "SQL INSERT", "SQL BATCH"} {
		if !byName[want] {
			t.Errorf("no span %q among %v", want, byName)
		}
	}
}
