package logging_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
)

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type nilStringer struct{ s *string }

func (n *nilStringer) String() string { return *n.s } // panics on a nil receiver

type textMarshaler struct{}

func (textMarshaler) MarshalText() ([]byte, error) { return []byte("a b"), nil }

type failingMarshaler struct{}

func (failingMarshaler) MarshalText() ([]byte, error) { return nil, errors.New("cannot") }

type named int

// TestLogfmtMatchesGoKit checks that New's logfmt lines are byte for byte
// those of go-kit's log.NewLogfmtLogger, for the values its fast path
// writes itself and for every awkward value it hands on.
func TestLogfmtMatchesGoKit(t *testing.T) {
	var nilErr *errs.Error
	var nilStr *nilStringer
	tests := []struct {
		name    string
		keyvals []any
	}{
		{"plain strings", []any{"msg", "request", "method", "GET", "path", "/api/v1/products/42"}},
		{"strings that need quotes", []any{"a", "two words", "b", `say "hi"`, "c", "k=v", "d", "tab\there", "e", "line\nbreak", "f", "null", "g", ""}},
		{"unicode and control", []any{"a", "héllo", "b", "\x7f", "c", "\x00", "d", "\xff\xfe", "e", "日本"}},
		{"integers", []any{"int", 42, "neg", -7, "zero", 0, "i64", int64(math.MinInt64), "i32", int32(-5), "u", uint(7), "u64", uint64(math.MaxUint64), "u32", uint32(9), "i8", int8(-3), "u16", uint16(4)}},
		{"named and float", []any{"named", named(3), "f", 1.5, "f32", float32(0.1), "big", 1e21}},
		{"bools", []any{"t", true, "f", false}},
		{"durations", []any{"a", 1500 * time.Millisecond, "b", 250 * time.Microsecond, "c", -3 * time.Minute, "d", time.Duration(0)}},
		{"errors", []any{"err", errors.New("dial tcp: connection refused"), "kind", errs.NotFound, "e2", errs.New(errs.Invalid, "x"), "nilerr", nilErr}},
		{"nil and pointers", []any{"nil", nil, "np", (*int)(nil), "p", new(int), "nilstringer", nilStr}},
		{"stringers and marshalers", []any{"s", stringer{"a b"}, "s2", stringer{"ok"}, "tm", textMarshaler{}, "ts", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "bad", failingMarshaler{}}},
		{"bytes", []any{"b", []byte("raw"), "b2", []byte("two words"), "nilb", []byte(nil)}},
		{"unsupported values", []any{"m", map[string]int{"a": 1}, "sl", []int{1}, "st", struct{ A int }{1}, "after", "ok"}},
		{"odd count", []any{"a", 1, "dangling"}},
		{"awkward keys", []any{"a b", 1, "k=v", 2, `q"`, 3, "é", 4, stringer{"sk"}, 5, 42, 6, "ok", 7}},
		{"unsupported key drops the pair", []any{"first", 1, []int{1}, 2, "last", 3}},
		{"unsupported key first", []any{map[string]int{}, 1, "next", 2}},
		{"empty", []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			wantErr := log.NewLogfmtLogger(&want).Log(tt.keyvals...)
			gotErr := logging.NewLogfmt(&got).Log(tt.keyvals...)
			if got.String() != want.String() {
				t.Errorf("line\n got  %q\n want %q", got.String(), want.String())
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("error = %v, want %v", gotErr, wantErr)
			}
		})
	}
	// Lines that fail as a whole: nothing written, the same error.
	for _, keyvals := range [][]any{{nil, 1}, {"", 1}, {" ", 1}, {"ok", 1, (*string)(nil), 2}} {
		var want, got bytes.Buffer
		wantErr := log.NewLogfmtLogger(&want).Log(keyvals...)
		gotErr := logging.NewLogfmt(&got).Log(keyvals...)
		if got.String() != want.String() || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("%#v: got (%q, %v), want (%q, %v)", keyvals, got.String(), gotErr, want.String(), wantErr)
		}
	}
}

func BenchmarkLogfmt(b *testing.B) {
	keyvals := []any{"level", "info", "ts", "2026-11-21T06:28:34.027001779Z", "caller", "middleware.go:116", "component", "gateway",
		"msg", "request", "method", "GET", "path", "/api/v1/products/42", "route", "/api/v1/products", "service", "product",
		"instance", "product-1", "user_id", "", "attempts", 1, "status", 200, "bytes", int64(331), "took", 1358801 * time.Nanosecond,
		"request_id", "b04446fabdea5c740bd274c175954904", "client", "127.0.0.1"}
	for _, tt := range []struct {
		name   string
		logger log.Logger
	}{{"go-kit", log.NewLogfmtLogger(discard{})}, {"kitshop", logging.NewLogfmt(discard{})}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tt.logger.Log(keyvals...)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
