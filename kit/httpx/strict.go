package httpx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kitshop/kitshop/kit/errs"
)

// maxStrictDepth bounds the nesting checkStrict follows; encoding/json
// refuses deeper input itself (its limit is the same), so checkStrict leaves
// such a body to Decode instead of growing its stack without bound.
const maxStrictDepth = 10000

// checkStrict rejects what encoding/json accepts silently, naming the JSON
// path of the offending member ("dims.w", "items[2].sku"):
//
//   - a key repeated in one object, at any depth: encoding/json keeps the
//     last, so two parts of the system could read two different values. Keys
//     that differ only in case count as repeated, because encoding/json
//     matches struct fields case-insensitively;
//   - a string that is not valid UTF-8 (including overlong encodings and
//     encoded surrogates), or that escapes half a surrogate pair
//     ("\ud800"): encoding/json replaces those with U+FFFD, which would
//     then be stored as if the client had sent it.
//
// Malformed JSON is not its business: it returns nil and lets Decode report
// the syntax error with its offset.
func checkStrict(data []byte) error {
	badByte := -1
	if !utf8.Valid(data) {
		badByte = firstInvalidUTF8(data)
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber() // numbers are only skipped; don't parse them as floats
	for {
		start := w.dec.InputOffset()
		tok, err := w.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil || len(w.stack) > maxStrictDepth {
			break // Decode reports it
		}
		end := w.dec.InputOffset()
		s, isString := tok.(string)
		var top *frame
		if n := len(w.stack); n > 0 {
			top = &w.stack[n-1]
		}
		if isString && top != nil && top.object && top.wantKey {
			top.key, top.wantKey = s, false
			if badString(data[start:end], start, badByte) {
				return invalidUTF8(w.path())
			}
			folded := strings.ToLower(strings.ToUpper(s))
			if _, dup := top.keys[folded]; dup {
				path := w.path()
				return &errs.Error{
					Kind:    errs.Invalid,
					Message: fmt.Sprintf("duplicate key %q", path),
					Fields:  []errs.FieldError{{Field: path, Message: "duplicate key"}},
				}
			}
			top.keys[folded] = struct{}{}
			continue
		}
		switch tok {
		case json.Delim('{'):
			w.stack = append(w.stack, frame{object: true, wantKey: true, keys: map[string]struct{}{}})
			continue
		case json.Delim('['):
			w.stack = append(w.stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			w.stack = w.stack[:len(w.stack)-1]
		default:
			if isString && badString(data[start:end], start, badByte) {
				return invalidUTF8(w.path())
			}
		}
		w.valueDone()
	}
	if badByte >= 0 {
		// Not inside a string the walk reached (the body is malformed
		// further on): still not something to decode.
		return errs.New(errs.Invalid, "request body is not valid UTF-8")
	}
	return nil
}

// frame is one open object or array during checkStrict's walk.
type frame struct {
	object  bool
	wantKey bool                // object: the next string is a key
	key     string              // object: the member being read
	keys    map[string]struct{} // object: keys seen, case-folded
	index   int                 // array: the element being read
}

type walker struct {
	dec   *json.Decoder
	stack []frame
}

// valueDone moves the innermost container past the value just read.
func (w *walker) valueDone() {
	if len(w.stack) == 0 {
		return
	}
	top := &w.stack[len(w.stack)-1]
	if top.object {
		top.wantKey = true
	} else {
		top.index++
	}
}

// path names the member being read in the form field errors use elsewhere:
// "dims.w", "items[0].product_id"; "" for the top-level value.
func (w *walker) path() string {
	var b strings.Builder
	for _, f := range w.stack {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}

func invalidUTF8(path string) error {
	if path == "" {
		return errs.New(errs.Invalid, "request body is not valid UTF-8")
	}
	return &errs.Error{
		Kind:    errs.Invalid,
		Message: fmt.Sprintf("field %q is not valid UTF-8", path),
		Fields:  []errs.FieldError{{Field: path, Message: "must be valid UTF-8 text"}},
	}
}

// badString reports whether the raw token text span, which starts at
// offset start of the body, holds the body's first invalid UTF-8 byte or
// escapes a lone surrogate.
func badString(span []byte, start int64, badByte int) bool {
	if badByte >= 0 && int64(badByte) >= start && int64(badByte) < start+int64(len(span)) {
		return true
	}
	return bytes.IndexByte(span, '\\') >= 0 && loneSurrogate(span)
}

// loneSurrogate reports whether the JSON string text s (with its quotes,
// possibly preceded by separators) has a \u escape of a surrogate that is
// not part of a high-low pair.
func loneSurrogate(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if i+1 >= len(s) || s[i+1] != 'u' {
			i++ // a two-character escape such as \\ or \"
			continue
		}
		r, ok := hex4(s, i+2)
		if !ok {
			return false // malformed; Decode reports it
		}
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true // a low half with no high half before it
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(s) || s[i+1] != '\\' || s[i+2] != 'u' {
				return true
			}
			lo, ok := hex4(s, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

func hex4(s []byte, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s[at:at+4]), 16, 16)
	return rune(n), err == nil
}

// firstInvalidUTF8 returns the offset of the first byte of data that does
// not start a valid UTF-8 sequence, or -1.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}
