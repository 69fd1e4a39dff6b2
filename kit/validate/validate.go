package validate

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
)

// Fields collects field errors. The zero value is ready to use.
type Fields struct {
	fields []errs.FieldError
}

// Add records that field is bad, with a message for the client.
func (v *Fields) Add(field, msg string) {
	v.fields = append(v.fields, errs.FieldError{Field: field, Message: msg})
}

// Has reports whether field has an error already.
func (v *Fields) Has(field string) bool {
	for _, f := range v.fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Err returns an errs.Invalid error naming every bad field, or nil.
func (v *Fields) Err() error { return errs.InvalidFields(v.fields...) }

// UUID returns s in canonical form (lower case, hyphenated), or "" after
// recording an error for field. Only the canonical 36-character form is
// accepted, so that one resource has one URL; a malformed id is the
// client's mistake (400), not a missing resource (404).
func (v *Fields) UUID(field, s string) string {
	id, ok := ParseUUID(s)
	if !ok {
		v.Add(field, "must be a UUID")
	}
	return id
}

// ParseUUID returns s in canonical form and whether it is a UUID in
// canonical 36-character form.
func ParseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	// A 36-character UUID is hyphenated; without upper-case digits it is
	// canonical already, and needs no copy.
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'F' {
			return u.String(), true
		}
	}
	return s, true
}

// ID returns id in canonical form, or an errs.Invalid error naming field
// "id" with msg as its message (such as "malformed product id").
func ID(id, msg string) (string, error) {
	canonical, ok := ParseUUID(id)
	if !ok {
		return "", &errs.Error{
			Kind:    errs.Invalid,
			Message: msg,
			Fields:  []errs.FieldError{{Field: "id", Message: "must be a UUID"}},
		}
	}
	return canonical, nil
}

// Text records an error for field when s is longer than max characters, is
// not valid UTF-8, or holds a NUL or another control character (tabs and
// line breaks excepted). It reports whether s passed.
func (v *Fields) Text(field, s string, max int) bool {
	switch {
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case strings.IndexFunc(s, isControl) >= 0:
		v.Add(field, "must not contain control characters")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "must be at most "+strconv.Itoa(max)+" characters")
	default:
		return true
	}
	return false
}

func isControl(r rune) bool {
	return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}

// LogID returns id in canonical form for a log line, or "(malformed)" when
// it is not a UUID: a malformed id is arbitrary client input.
func LogID(id string) string {
	if canonical, ok := ParseUUID(id); ok {
		return canonical
	}
	return "(malformed)"
}

// Line returns s without surrounding spaces, recording an error for field
// when it is empty, longer than max characters, or not one line of valid
// UTF-8 text (no control characters at all): a name, a title.
func (v *Fields) Line(field, s string, max int) string {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		v.Add(field, "must not be empty")
	case n > max:
		v.Add(field, "must be at most "+strconv.Itoa(max)+" characters")
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		v.Add(field, "must be valid UTF-8 text without control characters")
	}
	return s
}
