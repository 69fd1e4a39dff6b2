package httpx

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"

	"github.com/kitshop/kitshop/kit/errs"
)

// DecodeObject decodes the JSON object in r's body into dst, a struct of
// pointer fields, with DecodeJSON's strict rules, and then refuses members
// that are explicitly null and required members that are missing, naming
// them all in one errs.Invalid: a pointer field cannot tell null from
// absent, so the body, kept aside while DecodeJSON reads it (within its size
// limit), is looked at once more. No field can be cleared with null;
// silently ignoring a null a client meant as "clear" would be worse than
// refusing it.
func DecodeObject(r *http.Request, dst any, required ...string) error {
	var raw bytes.Buffer
	if r.Body != nil {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &raw), r.Body}
	}
	if err := DecodeJSON(r, dst); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw.Bytes(), &members); err != nil {
		// DecodeJSON accepted it as an object (or null), so this cannot fail.
		return errs.Wrap(err, errs.Internal, "")
	}
	var fields []errs.FieldError
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if bytes.Equal(members[name], []byte("null")) {
			fields = append(fields, errs.FieldError{Field: name, Message: "must not be null"})
		}
	}
	for _, name := range required {
		if _, present := members[name]; !present {
			fields = append(fields, errs.FieldError{Field: name, Message: "is required"})
		}
	}
	return errs.InvalidFields(fields...)
}
