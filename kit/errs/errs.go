package errs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error by what the caller can do about it.
// The zero value is Internal, so an error nobody classified is never mistaken
// for the caller's fault.
type Kind uint8

// The kinds, in the order of the tables in this package.
const (
	Internal        Kind = iota // a bug or an unexpected failure; the caller cannot fix it
	Invalid                     // the request is malformed or breaks a rule
	NotFound                    // the addressed resource does not exist (for this caller)
	Conflict                    // the request conflicts with the current state (duplicate, short stock)
	Unauthenticated             // no or bad credentials
	Forbidden                   // credentials are fine but not allowed to do this
	RateLimited                 // too many requests; retry after a while
	Unavailable                 // a dependency is down, overloaded or too slow; retry may succeed
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid",
	NotFound:        "not_found",
	Conflict:        "conflict",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	RateLimited:     "rate_limited",
	Unavailable:     "unavailable",
}

// String returns the kind's stable wire name, such as "not_found".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return kindNames[Internal]
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for k, name := range kindNames {
		if name == s {
			return Kind(k), true
		}
	}
	return Internal, false
}

// Business reports whether errors of this kind are the caller's business rather
// than a failure of the system: circuit breakers and retries ignore them.
func (k Kind) Business() bool {
	switch k {
	case Invalid, NotFound, Conflict, Unauthenticated, Forbidden, RateLimited:
		return true
	}
	return false
}

// FieldError names one invalid input field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a classified error. Message and Fields are safe to show to clients;
// Err is the cause and is only ever logged.
type Error struct {
	Kind       Kind
	Message    string        // safe for clients; empty means the kind's default text
	Fields     []FieldError  // per-field details for Invalid (and Conflict) errors
	RetryAfter time.Duration // hint for RateLimited and Unavailable
	Err        error         // cause, for logs only
}

// Error implements error. It includes the cause, so it belongs in logs, not in
// responses: use Message for clients.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error of the given kind with a client-safe message.
func New(kind Kind, msg string) error {
	return &Error{Kind: kind, Message: msg}
}

// Errorf is New with formatting. The arguments end up in the client message,
// so never pass secrets or internal details.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err as kind with a client-safe message; err itself is kept
// as the cause for logs. Wrap(nil, …) returns nil.
func Wrap(err error, kind Kind, msg string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Message: msg, Err: err}
}

// InvalidFields returns an Invalid error listing every bad field at once, so a
// client can fix them all in one round trip. With no fields it returns nil.
func InvalidFields(fields ...FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Message: "invalid input", Fields: fields}
}

// KindOf returns the kind of err: that of the outermost *Error in its chain,
// Unavailable for deadline and cancellation errors, and Internal otherwise.
// KindOf(nil) is Internal; check for nil first.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Unavailable
	}
	return Internal
}

// Is reports whether err is non-nil and of the given kind.
func Is(err error, kind Kind) bool {
	return err != nil && KindOf(err) == kind
}

// Message returns the text a client may see for err. Internal errors always
// get the generic text, whatever they carry, so a cause can never leak.
func Message(err error) string {
	kind := KindOf(err)
	var e *Error
	if kind != Internal && errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return defaultMessages[kind]
}

// FieldsOf returns the field errors carried by err, if any.
func FieldsOf(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// RetryAfterOf returns the retry hint carried by err, or zero.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

var defaultMessages = [...]string{
	Internal:        "internal error",
	Invalid:         "invalid request",
	NotFound:        "not found",
	Conflict:        "conflict with the current state",
	Unauthenticated: "authentication required",
	Forbidden:       "forbidden",
	RateLimited:     "too many requests",
	Unavailable:     "service unavailable, try again later",
}
