package requestid

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
)

// Header is the HTTP header that carries the request id, in requests and
// responses alike.
const Header = "X-Request-ID"

// HeaderKey is Header in the canonical form net/http keeps header keys in
// (http.CanonicalHeaderKey(Header)). Indexing an http.Header with it
// directly, as HTTPMiddleware does, spares the conversion, and the
// allocation, that Get and Set make for a key spelt otherwise on every call.
const HeaderKey = "X-Request-Id"

// MetadataKey is the gRPC metadata key that carries the request id (gRPC
// metadata keys are lower case).
const MetadataKey = "x-request-id"

// MaxLen is the longest id Valid accepts. Ids come from clients, so the bound
// keeps log lines and headers small.
const MaxLen = 128

// New returns a fresh id: 16 random bytes, hex encoded (32 characters).
//
// The bytes come from math/rand/v2's generator (ChaCha8, seeded by the
// runtime from the operating system's randomness, one state per thread), not
// from crypto/rand: an id must be unique, not secret, as it is echoed in
// responses and written to logs, and 128 random bits collide practically
// never. It costs a tenth of a crypto/rand read, and every request that
// arrives without an id needs one.
func New() string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

// Valid reports whether id is acceptable from a client: 1 to MaxLen
// characters, each a letter, a digit or one of "._:-". That covers UUIDs, hex
// ids and most tracing formats while keeping spaces, quotes and control
// characters out of logs.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the id carried by ctx, or "" if there is none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// HTTPMiddleware adopts a valid incoming X-Request-ID or generates a new one,
// puts it on the request's context, echoes it in the response header and, when
// it had to replace the incoming value, rewrites the request header too, so a
// proxy further down forwards the id the logs know.
func HTTPMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if vs := r.Header[HeaderKey]; len(vs) > 0 {
			id = vs[0]
		}
		fresh := !Valid(id)
		if fresh {
			id = New()
		}
		r = r.WithContext(NewContext(r.Context(), id))
		if fresh {
			// Handlers must not modify the request they were given, and
			// WithContext shares the header map, so copy before writing.
			r.Header = r.Header.Clone()
			if r.Header == nil {
				r.Header = make(http.Header)
			}
			r.Header[HeaderKey] = []string{id}
		}
		w.Header()[HeaderKey] = []string{id}
		next.ServeHTTP(w, r)
	})
}
