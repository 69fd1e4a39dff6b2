package product

import (
	"context"
	"sync/atomic"
)

// StaleHeader and StaleWarning are the response header (and its value)
// that mark a read served from the cache while the database could not
// confirm it (see Cache): RFC 7234's warn-code 110, "Response is Stale".
// RFC 9111 retired the Warning header from HTTP caching, but its meaning
// is still the one a client should read here: the data may be out of date.
const (
	StaleHeader  = "Warning"
	StaleWarning = `110 - "Response is Stale"`
)

type staleKey struct{}

// WithStaleMark returns ctx with room for MarkStale's mark, for a transport
// to read back with Stale once the call returns.
func WithStaleMark(ctx context.Context) context.Context {
	return &staleCtx{Context: ctx}
}

// staleCtx is a context carrying its own mark: one allocation per read
// where context.WithValue and a separate atomic.Bool cost two.
type staleCtx struct {
	context.Context
	stale atomic.Bool
}

func (c *staleCtx) Value(key any) any {
	if key == (staleKey{}) {
		return &c.stale
	}
	return c.Context.Value(key)
}

// MarkStale records in ctx (made by WithStaleMark; otherwise it does
// nothing) that the answer may be stale.
func MarkStale(ctx context.Context) {
	if b, ok := ctx.Value(staleKey{}).(*atomic.Bool); ok {
		b.Store(true)
	}
}

// Stale reports whether MarkStale was called on ctx (or a context derived
// from it).
func Stale(ctx context.Context) bool {
	b, ok := ctx.Value(staleKey{}).(*atomic.Bool)
	return ok && b.Load()
}
