package errs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
)

var allKinds = []errs.Kind{
	errs.Internal, errs.Invalid, errs.NotFound, errs.Conflict,
	errs.Unauthenticated, errs.Forbidden, errs.RateLimited, errs.Unavailable,
}

func TestKindOf(t *testing.T) {
	cause := errors.New("connection reset")
	tests := []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"plain error is internal", cause, errs.Internal},
		{"kit error", errs.New(errs.NotFound, "product not found"), errs.NotFound},
		{"wrapped by fmt keeps kind", fmt.Errorf("get: %w", errs.New(errs.Conflict, "dup")), errs.Conflict},
		{"wrap classifies cause", errs.Wrap(cause, errs.Unavailable, "database down"), errs.Unavailable},
		{"deadline is unavailable", fmt.Errorf("query: %w", context.DeadlineExceeded), errs.Unavailable},
		{"canceled is unavailable", context.Canceled, errs.Unavailable},
		{"outermost kind wins", errs.Wrap(errs.New(errs.NotFound, "x"), errs.Internal, ""), errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKindStringRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range allKinds {
		name := k.String()
		if seen[name] {
			t.Fatalf("duplicate wire name %q", name)
		}
		seen[name] = true
		got, ok := errs.ParseKind(name)
		if !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", name, got, ok, k)
		}
	}
	if _, ok := errs.ParseKind("bogus"); ok {
		t.Error("ParseKind accepted an unknown name")
	}
}

func TestMessageNeverLeaksInternalCause(t *testing.T) {
	err := errs.Wrap(errors.New("pq: password authentication failed for user kitshop"), errs.Internal, "db said no")
	if got := errs.Message(err); got != "internal error" {
		t.Errorf("Message = %q, want generic text", got)
	}
	if got := errs.Message(errors.New("secret")); strings.Contains(got, "secret") {
		t.Errorf("Message = %q leaks a plain error", got)
	}
	if got := errs.Message(errs.New(errs.NotFound, "product not found")); got != "product not found" {
		t.Errorf("Message = %q", got)
	}
	if got := errs.Message(errs.New(errs.Forbidden, "")); got != "forbidden" {
		t.Errorf("empty message should fall back to the kind's text, got %q", got)
	}
}

func TestBusiness(t *testing.T) {
	want := map[errs.Kind]bool{
		errs.Invalid: true, errs.NotFound: true, errs.Conflict: true, errs.Unauthenticated: true,
		errs.Forbidden: true, errs.RateLimited: true, errs.Internal: false, errs.Unavailable: false,
	}
	for _, k := range allKinds {
		if got := k.Business(); got != want[k] {
			t.Errorf("%v.Business() = %v, want %v", k, got, want[k])
		}
	}
}

func TestHTTPStatusRoundTrip(t *testing.T) {
	want := map[errs.Kind]int{
		errs.Internal: 500, errs.Invalid: 400, errs.NotFound: 404, errs.Conflict: 409,
		errs.Unauthenticated: 401, errs.Forbidden: 403, errs.RateLimited: 429, errs.Unavailable: 503,
	}
	for _, k := range allKinds {
		got := errs.HTTPStatus(k)
		if got != want[k] {
			t.Errorf("HTTPStatus(%v) = %d, want %d", k, got, want[k])
		}
		if back := errs.KindFromHTTPStatus(got); back != k {
			t.Errorf("KindFromHTTPStatus(%d) = %v, want %v", got, back, k)
		}
	}
	others := []struct {
		status int
		want   errs.Kind
	}{
		{http.StatusBadGateway, errs.Unavailable},
		{http.StatusGatewayTimeout, errs.Unavailable},
		{http.StatusRequestEntityTooLarge, errs.Invalid},
		{http.StatusUnprocessableEntity, errs.Conflict},
		{http.StatusTeapot, errs.Invalid},
		{http.StatusNotImplemented, errs.Internal},
	}
	for _, tt := range others {
		if got := errs.KindFromHTTPStatus(tt.status); got != tt.want {
			t.Errorf("KindFromHTTPStatus(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestGRPCCodeRoundTrip(t *testing.T) {
	want := map[errs.Kind]codes.Code{
		errs.Internal: codes.Internal, errs.Invalid: codes.InvalidArgument, errs.NotFound: codes.NotFound,
		errs.Conflict: codes.FailedPrecondition, errs.Unauthenticated: codes.Unauthenticated,
		errs.Forbidden: codes.PermissionDenied, errs.RateLimited: codes.ResourceExhausted, errs.Unavailable: codes.Unavailable,
	}
	for _, k := range allKinds {
		got := errs.GRPCCode(k)
		if got != want[k] {
			t.Errorf("GRPCCode(%v) = %v, want %v", k, got, want[k])
		}
		if back := errs.KindFromGRPCCode(got); back != k {
			t.Errorf("KindFromGRPCCode(%v) = %v, want %v", got, back, k)
		}
	}
	if got := errs.KindFromGRPCCode(codes.DeadlineExceeded); got != errs.Unavailable {
		t.Errorf("DeadlineExceeded -> %v, want unavailable", got)
	}
	if got := errs.KindFromGRPCCode(codes.AlreadyExists); got != errs.Conflict {
		t.Errorf("AlreadyExists -> %v, want conflict", got)
	}
}

// TestGRPCErrorRoundTrip checks that an error keeps kind, message, fields and
// retry hint across a gRPC hop, and that internal causes stay behind.
func TestGRPCErrorRoundTrip(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			sent := &errs.Error{
				Kind:       k,
				Message:    "something about " + k.String(),
				Fields:     []errs.FieldError{{Field: "name", Message: "must not be empty"}},
				RetryAfter: 3 * time.Second,
				Err:        errors.New("secret cause"),
			}
			wire := errs.ToGRPC(sent)
			st, ok := status.FromError(wire)
			if !ok {
				t.Fatalf("ToGRPC returned a non-status error %T", wire)
			}
			if strings.Contains(st.Message(), "secret") {
				t.Fatalf("status message %q leaks the cause", st.Message())
			}
			got := errs.FromGRPC(wire)
			if errs.KindOf(got) != k {
				t.Fatalf("kind = %v, want %v", errs.KindOf(got), k)
			}
			if k == errs.Internal {
				if m := errs.Message(got); m != "internal error" {
					t.Errorf("internal message = %q, want generic", m)
				}
				return
			}
			if m := errs.Message(got); m != sent.Message {
				t.Errorf("message = %q, want %q", m, sent.Message)
			}
			if f := errs.FieldsOf(got); len(f) != 1 || f[0] != sent.Fields[0] {
				t.Errorf("fields = %v, want %v", f, sent.Fields)
			}
			if ra := errs.RetryAfterOf(got); ra != sent.RetryAfter {
				t.Errorf("retry after = %v, want %v", ra, sent.RetryAfter)
			}
		})
	}
}

func TestGRPCPassThrough(t *testing.T) {
	if errs.ToGRPC(nil) != nil || errs.FromGRPC(nil) != nil {
		t.Fatal("nil must stay nil")
	}
	orig := status.Error(codes.AlreadyExists, "exists")
	if got := errs.ToGRPC(orig); got != orig {
		t.Errorf("ToGRPC changed an existing status error: %v", got)
	}
	plain := errors.New("not a status")
	if got := errs.FromGRPC(plain); got != plain {
		t.Errorf("FromGRPC changed a non-status error: %v", got)
	}
}

func TestInvalidFields(t *testing.T) {
	if errs.InvalidFields() != nil {
		t.Fatal("no fields must mean no error")
	}
	err := errs.InvalidFields(errs.FieldError{Field: "price_minor", Message: "must be >= 0"})
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("kind = %v, want invalid", errs.KindOf(err))
	}
	if !strings.Contains(err.Error(), "price_minor: must be >= 0") {
		t.Errorf("Error() = %q lacks the field", err.Error())
	}
}

func ExampleKindOf() {
	err := fmt.Errorf("loading product: %w", errs.New(errs.NotFound, "product not found"))
	kind := errs.KindOf(err)
	fmt.Println(kind, errs.HTTPStatus(kind), errs.GRPCCode(kind), errs.Message(err))
	// Output: not_found 404 NotFound product not found
}
