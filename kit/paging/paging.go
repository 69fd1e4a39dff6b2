package paging

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// MaxTokenLen bounds the length of a token a client may send, so that a
// forged one costs nothing to refuse.
const MaxTokenLen = 256

// Sizes are a list's default and largest page size.
type Sizes struct {
	Default, Max int
}

// The page sizes of DefaultSizes.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// DefaultSizes are the page sizes every list uses unless it has a reason
// of its own.
var DefaultSizes = Sizes{Default: DefaultLimit, Max: MaxLimit}

// Limit returns the page size for a requested limit (0 means the default)
// and whether the request was within 1..Max.
func (s Sizes) Limit(requested int) (int, bool) {
	if requested == 0 {
		return s.Default, true
	}
	return requested, requested >= 1 && requested <= s.Max
}

// RangeMessage is the field message for a limit out of range.
func (s Sizes) RangeMessage() string {
	return "must be between 1 and " + strconv.Itoa(s.Max)
}

// version prefixes every token's payload.
const version = "v1"

// sep separates a token's fields; fields must not contain it.
const sep = "\x1f"

// Encode returns a token carrying fields.
func Encode(fields ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(version + sep + strings.Join(fields, sep)))
}

// Decode returns the n fields of a token made by Encode, and false for
// anything else: too long, not base64, another version, or another number
// of fields. The caller still checks each field's form.
func Decode(token string, n int) ([]string, bool) {
	if len(token) > MaxTokenLen {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, false
	}
	rest, ok := strings.CutPrefix(string(b), version+sep)
	if !ok {
		return nil, false
	}
	fields := strings.Split(rest, sep)
	if len(fields) != n {
		return nil, false
	}
	return fields, true
}
