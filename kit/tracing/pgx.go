package tracing

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// SQLTracer is a pgx tracer (pgx.QueryTracer and pgx.BatchTracer) that
// gives each statement run on behalf of a recorded span a span of its own,
// "SQL <operation>", with the statement's text, which is parameterised, so
// it holds no argument; the arguments are never recorded. Statements with
// no recorded span around them (background loops, unsampled requests) get
// none, so polling adds no traces and unsampled calls no cost.
type SQLTracer struct {
	t trace.Tracer
}

// NewSQLTracer returns a SQLTracer on the global provider; set it as the
// pool's tracer (kit/postgres.WithTracer).
func NewSQLTracer() *SQLTracer { return &SQLTracer{t: tracer()} }

var (
	_ pgx.QueryTracer = (*SQLTracer)(nil)
	_ pgx.BatchTracer = (*SQLTracer)(nil)
)

var sqlStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// maxStatement bounds the statement text kept on a span.
const maxStatement = 2048

func (s *SQLTracer) start(ctx context.Context, sql string, batch bool) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	name := "SQL BATCH"
	if !batch {
		name = "SQL " + operation(sql)
	}
	ctx, span := s.t.Start(ctx, name, sqlStart...)
	if len(sql) > maxStatement {
		sql = sql[:maxStatement]
	}
	span.SetAttributes(attribute.String("db.system.name", "postgresql"))
	if sql != "" {
		span.SetAttributes(attribute.String("db.query.text", sql))
	}
	return context.WithValue(ctx, sqlSpanKey{}, span)
}

type sqlSpanKey struct{}

func (s *SQLTracer) end(ctx context.Context, err error, rows int64) {
	span, ok := ctx.Value(sqlSpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if rows >= 0 {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", rows))
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		span.SetStatus(codes.Error, "query failed")
		span.SetAttributes(attribute.String("error.type", sqlErrorType(err)))
	}
	span.End()
}

// TraceQueryStart starts the statement's span.
func (s *SQLTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return s.start(ctx, d.SQL, false)
}

// TraceQueryEnd ends it.
func (s *SQLTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	s.end(ctx, d.Err, d.CommandTag.RowsAffected())
}

// TraceBatchStart starts a batch's span.
func (s *SQLTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return s.start(ctx, "", true)
}

// TraceBatchQuery does nothing: the batch's span stands for its statements.
func (s *SQLTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd ends the batch's span.
func (s *SQLTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	s.end(ctx, d.Err, -1)
}

// operation is a statement's first word, upper case: SELECT, INSERT, …
func operation(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	end := strings.IndexAny(sql, " \t\r\n(;")
	if end < 0 {
		end = len(sql)
	}
	op := strings.ToUpper(sql[:end])
	switch op {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "LOCK", "SET", "NOTIFY", "LISTEN":
		return op
	}
	return "QUERY"
}

// sqlErrorType is the SQLSTATE of a server error, or "transport".
func sqlErrorType(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.SQLState()
	}
	return "transport"
}
