package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/kit/errs"
)

// MaxBodyBytes bounds every JSON request body DecodeJSON reads. kitshop's
// requests are small; a larger body is a mistake or an attack.
const MaxBodyBytes = 1 << 20

// DecodeJSON strictly decodes the JSON body of r into dst, which must be a
// non-nil pointer. Every problem with the input is an errs.Invalid error whose
// message says what is wrong:
//
//   - an empty body;
//   - a Content-Type other than application/json;
//   - a body over MaxBodyBytes;
//   - malformed JSON (with the byte offset);
//   - a field dst does not have (named), or a value of the wrong type (field
//     named, with the expected type, in the error's Fields);
//   - anything after the first JSON value;
//   - a key given twice in one object, at any depth, and a string that is
//     not valid UTF-8 (both named by their JSON path, such as "dims.w";
//     see checkStrict), which encoding/json would otherwise accept, keeping
//     the last value or replacing the bytes with U+FFFD.
//
// A dst that cannot be decoded into is a programming error and returns an
// Internal error.
func DecodeJSON(r *http.Request, dst any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return errs.New(errs.Invalid, "request body is empty")
	}
	// With a declared length, reject without reading what will be refused.
	if r.ContentLength > MaxBodyBytes {
		return BodyTooLarge(MaxBodyBytes)
	}
	if r.ContentLength > 0 {
		if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
			return err
		}
	}
	// A nil ResponseWriter is allowed: DecodeJSON runs inside go-kit decoders,
	// which have no writer; the limit is what matters.
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return BodyTooLarge(MaxBodyBytes)
		}
		return errs.Wrap(err, errs.Invalid, "request body could not be read")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errs.New(errs.Invalid, "request body is empty")
	}
	if r.ContentLength < 0 { // chunked: now we know there is a body
		if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
			return err
		}
	}

	if err := checkStrict(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return errs.Errorf(errs.Invalid, "request body must contain a single JSON value (unexpected data after offset %d)", end)
	}
	return nil
}

// BodyTooLarge returns the error of a request body over limit bytes: an
// Invalid error that WriteError answers with 413 Content Too Large, not 400,
// as 405 is a more precise status of an Invalid request.
func BodyTooLarge(limit int64) error {
	return &errs.Error{
		Kind:    errs.Invalid,
		Message: fmt.Sprintf("request body too large (limit %d bytes)", limit),
		Err:     &http.MaxBytesError{Limit: limit},
	}
}

func checkJSONContentType(ct string) error {
	if ct == "" {
		return errs.New(errs.Invalid, "Content-Type must be application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errs.New(errs.Invalid, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errs.New(errs.Invalid, "Content-Type charset must be utf-8")
	}
	return nil
}

// decodeError classifies an error from encoding/json. Messages are built
// from the error's structure, never from the input, so nothing the client
// sent is echoed beyond field names.
func decodeError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		invalid   *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &syntaxErr):
		return errs.Wrap(err, errs.Invalid, fmt.Sprintf("request body is not valid JSON (syntax error at offset %d)", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Wrap(err, errs.Invalid, "request body is not valid JSON (unexpected end of input)")
	case errors.As(err, &typeErr):
		want := jsonTypeName(typeErr.Type)
		if typeErr.Field == "" {
			return errs.Wrap(err, errs.Invalid, "request body must be "+want)
		}
		return &errs.Error{
			Kind:    errs.Invalid,
			Message: fmt.Sprintf("field %q must be %s (offset %d)", typeErr.Field, want, typeErr.Offset),
			Fields:  []errs.FieldError{{Field: typeErr.Field, Message: "must be " + want}},
			Err:     err,
		}
	case errors.As(err, &invalid):
		return errs.Wrap(err, errs.Internal, "")
	}
	// encoding/json reports unknown fields only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return &errs.Error{
			Kind:    errs.Invalid,
			Message: fmt.Sprintf("unknown field %q", name),
			Fields:  []errs.FieldError{{Field: name, Message: "unknown field"}},
			Err:     err,
		}
	}
	// Errors from custom UnmarshalJSON methods (time.Time and the like) may
	// quote the input; keep them for the logs only.
	return errs.Wrap(err, errs.Invalid, "request body could not be decoded")
}

// jsonTypeName describes a Go type in JSON terms, for error messages.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a valid value"
}

// EncodeJSON is a go-kit response encoder. It writes resp as JSON with the
// status from httptransport.StatusCoder (200 otherwise) and the headers from
// httptransport.Headerer. A nil resp (nil interface or nil pointer) is 204 No
// Content; a StatusCoder saying 204 or 304 also gets no body.
//
// The body is marshalled before anything is written, so a marshalling error
// can still become a clean problem response through the error encoder.
func EncodeJSON(_ context.Context, w http.ResponseWriter, resp any) error {
	if isNil(resp) {
		// Checked first: calling StatusCode or Headers on a nil pointer with
		// value receivers would panic.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if h, ok := resp.(httptransport.Headerer); ok {
		for k, vs := range h.Headers() {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	code := http.StatusOK
	if sc, ok := resp.(httptransport.StatusCoder); ok {
		code = sc.StatusCode()
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.WriteHeader(code)
		return nil
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return errs.Wrap(err, errs.Internal, "")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(append(body, '\n')) // a failed write means the client is gone; nothing to do
	return nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
