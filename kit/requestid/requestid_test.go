package requestid_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/requestid"
)

func TestNew(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		id := requestid.New()
		if got, want := len(id), 32; got != want {
			t.Fatalf("len(New()) = %d, want %d", got, want)
		}
		if strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("New() = %q, want lower-case hex", id)
		}
		if !requestid.Valid(id) {
			t.Fatalf("Valid(New()) = false for %q", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"hex", "0123456789abcdef0123456789abcdef", true},
		{"uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"punctuation", "a.b_c:d-E", true},
		{"single char", "x", true},
		{"max length", strings.Repeat("a", requestid.MaxLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", requestid.MaxLen+1), false},
		{"space", "abc def", false},
		{"newline", "abc\nmsg=forged", false},
		{"quote", `abc"`, false},
		{"equals", "a=b", false},
		{"slash", "a/b", false},
		{"non ascii", "abcé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestid.Valid(tt.id); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if got := requestid.FromContext(ctx); got != "" {
		t.Errorf("FromContext(empty) = %q, want \"\"", got)
	}
	ctx = requestid.NewContext(ctx, "abc")
	if got, want := requestid.FromContext(ctx), "abc"; got != want {
		t.Errorf("FromContext = %q, want %q", got, want)
	}
}

func TestHTTPMiddleware(t *testing.T) {
	tests := []struct {
		name     string
		incoming string // "" means no header
		wantKeep bool   // whether the incoming id must be adopted
	}{
		{"valid id adopted", "client-id-123", true},
		{"uuid adopted", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"missing generated", "", false},
		{"too long replaced", strings.Repeat("a", 129), false},
		{"bad chars replaced", "id with spaces", false},
		{"log injection replaced", "x\" level=error msg=\"forged", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ctxID, headerID string
			h := requestid.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctxID = requestid.FromContext(r.Context())
				headerID = r.Header.Get(requestid.Header)
			}))
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tt.incoming != "" {
				req.Header.Set(requestid.Header, tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			echoed := rec.Header().Get(requestid.Header)
			if echoed != ctxID {
				t.Errorf("response header = %q, context id = %q, want equal", echoed, ctxID)
			}
			if headerID != ctxID {
				t.Errorf("request header seen by handler = %q, context id = %q, want equal", headerID, ctxID)
			}
			if !requestid.Valid(ctxID) {
				t.Errorf("context id %q is not valid", ctxID)
			}
			if got := ctxID == tt.incoming; got != tt.wantKeep {
				t.Errorf("adopted incoming %q = %v, want %v (got id %q)", tt.incoming, got, tt.wantKeep, ctxID)
			}
			if got := req.Header.Get(requestid.Header); got != tt.incoming {
				t.Errorf("caller's request header changed to %q, want %q", got, tt.incoming)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = requestid.New()
	}
}

func BenchmarkValid(b *testing.B) {
	id := requestid.New()
	b.ReportAllocs()
	for b.Loop() {
		_ = requestid.Valid(id)
	}
}

func TestHeaderKeyIsCanonical(t *testing.T) {
	if got := http.CanonicalHeaderKey(requestid.Header); got != requestid.HeaderKey {
		t.Errorf("CanonicalHeaderKey(%q) = %q, want HeaderKey %q", requestid.Header, got, requestid.HeaderKey)
	}
}

func BenchmarkHTTPMiddleware(b *testing.B) {
	h := requestid.HTTPMiddleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tt := range []struct{ name, incoming string }{{"generated", ""}, {"adopted", "req-0123456789"}} {
		b.Run(tt.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/products/42", nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("User-Agent", "bench")
			if tt.incoming != "" {
				req.Header.Set(requestid.Header, tt.incoming)
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
