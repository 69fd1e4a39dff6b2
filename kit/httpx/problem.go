package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/kit/transport"
	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
)

// ProblemContentType is the media type of error responses (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemTypePrefix makes Problem.Type a stable URN per kind, so clients that
// only understand RFC 9457 can still switch on it.
const problemTypePrefix = "urn:kitshop:problem:"

// Problem is the body of every HTTP error response, an RFC 9457 problem
// document extended with kitshop's error kind, the request id and per-field
// errors.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Kind      string            `json:"kind"`
	RequestID string            `json:"request_id,omitempty"`
	Errors    []errs.FieldError `json:"errors,omitempty"`
}

// ProblemFor builds the problem document for err. It contains only what a
// client may see: the kind, its status, the client-safe message and field
// errors. Internal errors always get the generic message and no fields.
func ProblemFor(ctx context.Context, err error) Problem {
	kind := errs.KindOf(err)
	status := errs.HTTPStatus(kind)
	var tooLarge *http.MaxBytesError
	if kind == errs.Invalid && errors.As(err, &tooLarge) {
		status = http.StatusRequestEntityTooLarge // see BodyTooLarge
	}
	p := Problem{
		Type:      problemTypePrefix + kind.String(),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    errs.Message(err),
		Kind:      kind.String(),
		RequestID: requestid.FromContext(ctx),
	}
	if kind != errs.Internal {
		p.Errors = errs.FieldsOf(err)
	}
	return p
}

// WriteError writes err to w as a problem document with the status of its
// kind. RateLimited and Unavailable errors carrying a retry hint also get a
// Retry-After header, and Unauthenticated errors a WWW-Authenticate challenge
// (RFC 6750). The causes of Internal and Unavailable errors are logged with
// the request id, method and path; they never reach the client.
func WriteError(w http.ResponseWriter, r *http.Request, logger log.Logger, err error) {
	writeError(r.Context(), w, log.With(logger, "method", r.Method, "path", r.URL.Path), err,
		hasBearer(r.Header.Get("Authorization")))
}

// ErrorEncoder returns a go-kit error encoder that behaves like WriteError.
// It learns the request's method, path and Authorization header from the
// context: from the request ServerOptions puts there, or else from the
// values httptransport.PopulateRequestContext sets, for servers configured
// with it.
func ErrorEncoder(logger log.Logger) httptransport.ErrorEncoder {
	return func(ctx context.Context, err error, w http.ResponseWriter) {
		if r, ok := ctx.Value(requestKey{}).(*http.Request); ok {
			writeError(ctx, w, log.With(logger, "method", r.Method, "path", r.URL.Path), err,
				hasBearer(r.Header.Get("Authorization")))
			return
		}
		l := logger
		if m, ok := ctx.Value(httptransport.ContextKeyRequestMethod).(string); ok {
			l = log.With(l, "method", m)
		}
		if p, ok := ctx.Value(httptransport.ContextKeyRequestPath).(string); ok {
			l = log.With(l, "path", p)
		}
		authz, _ := ctx.Value(httptransport.ContextKeyRequestAuthorization).(string)
		writeError(ctx, w, l, err, hasBearer(authz))
	}
}

// ServerOptions returns the options every kitshop go-kit HTTP server uses:
// the problem error encoder, the request on the context (so the encoder can
// log method and path), and an error handler that logs rejected requests at
// debug level. Failures (Internal, Unavailable) are logged by the encoder
// instead, so each error is logged once by the transport.
//
// The request is put on the context as one value rather than with
// httptransport.PopulateRequestContext, which adds a dozen values (and
// allocations) to every request, lengthening every later context lookup,
// to be read only when a request fails.
func ServerOptions(logger log.Logger) []httptransport.ServerOption {
	return []httptransport.ServerOption{
		httptransport.ServerBefore(requestToContext),
		httptransport.ServerErrorEncoder(ErrorEncoder(logger)),
		httptransport.ServerErrorHandler(errorHandler(logger)),
	}
}

type requestKey struct{}

// requestToContext keeps r on the context for ErrorEncoder.
func requestToContext(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

func errorHandler(logger log.Logger) transport.ErrorHandler {
	return transport.ErrorHandlerFunc(func(ctx context.Context, err error) {
		if kind := errs.KindOf(err); kind.Business() {
			// The client-safe message only: a rejected request is no reason
			// to log what the client sent.
			level.Debug(logging.WithRequest(logger, ctx)).Log("msg", "request rejected", "kind", kind, "detail", errs.Message(err))
		}
	})
}

// writeError writes the problem for err; bearer says whether the request
// presented a bearer token, which shapes the challenge of a 401.
func writeError(ctx context.Context, w http.ResponseWriter, logger log.Logger, err error, bearer bool) {
	if err == nil {
		err = errs.New(errs.Internal, "")
	}
	p := ProblemFor(ctx, err)
	kind := errs.KindOf(err)
	if kind == errs.Internal || kind == errs.Unavailable {
		level.Error(log.With(logger, logging.AppendTrace([]any{"request_id", p.RequestID}, ctx)...)).Log("msg", "request failed", "kind", kind, "err", err)
	}
	if kind == errs.RateLimited || kind == errs.Unavailable {
		if d := errs.RetryAfterOf(err); d > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d), 10))
		}
	}
	if kind == errs.Unauthenticated {
		w.Header().Set("WWW-Authenticate", authChallenge(bearer))
	}
	writeProblem(w, p)
}

// authRealm is the realm of kitshop's bearer token challenges.
const authRealm = "kitshop"

// authChallenge returns the WWW-Authenticate value every 401 carries
// (RFC 6750): the Bearer scheme with kitshop's realm, and error="invalid_token"
// when the request presented a bearer token, which tells the client to get a
// new token rather than to add one. The reason stays out of the header, as it
// stays out of the problem's detail.
func authChallenge(tokenPresented bool) string {
	if tokenPresented {
		return `Bearer realm="` + authRealm + `", error="invalid_token"`
	}
	return `Bearer realm="` + authRealm + `"`
}

// hasBearer reports whether an Authorization header value uses the Bearer
// scheme (case-insensitively, RFC 7235), whatever its token looks like.
func hasBearer(authorization string) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	return strings.EqualFold(scheme, "Bearer")
}

// writeProblem writes p with its status. Callers set extra headers first.
func writeProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil {
		// Problem holds only strings and ints; this cannot happen.
		p.Status = http.StatusInternalServerError
		body = []byte(`{"type":"urn:kitshop:problem:internal","title":"Internal Server Error","status":500,"kind":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n')) // a failed write means the client is gone; nothing to do
}

// retryAfterSeconds rounds d up to whole seconds, at least one: Retry-After
// cannot express fractions, and rounding down would invite an early retry.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// ErrorFromResponse turns an error response back into an *errs.Error: the
// kind comes from the problem's "kind" member, else from the status code;
// message and field errors come from the problem document and the retry hint
// from Retry-After. It returns nil for statuses below 400. It reads (at most
// MaxBodyBytes of) the body but does not close it.
//
// As with errs.FromGRPC, another service's Internal message is not kept, so a
// client never relays it as its own; the response is summarised in the cause
// for logs.
func ErrorFromResponse(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	var p Problem
	parsed := false
	if resp.Body != nil && isJSONMediaType(resp.Header.Get("Content-Type")) {
		data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
		if err == nil && json.Unmarshal(data, &p) == nil {
			parsed = true
		}
	}
	kind, ok := errs.ParseKind(p.Kind)
	if !parsed || !ok {
		kind = errs.KindFromHTTPStatus(resp.StatusCode)
	}
	e := &errs.Error{
		Kind:    kind,
		Message: p.Detail,
		Fields:  p.Errors,
		Err:     fmt.Errorf("http status %d (kind %q, request_id %q): %s", resp.StatusCode, p.Kind, p.RequestID, p.Detail),
	}
	if kind == errs.Internal {
		e.Message = ""
		e.Fields = nil
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// parseRetryAfter reads both forms of Retry-After: delay-seconds and an
// HTTP date. Anything unparsable or in the past is no hint at all.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 || s > math.MaxInt64/int64(time.Second) {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// isJSONMediaType reports whether ct is application/json or any +json type
// such as application/problem+json.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
