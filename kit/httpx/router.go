package httpx

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/tracing"
)

// Router is an http.ServeMux (Go 1.22 patterns, path values via
// r.PathValue) whose own answers are problem documents: an unknown path is a
// 404 problem and a known path with the wrong method a 405 problem with an
// Allow header, where the mux would answer in plain text. Handlers run under
// Recover.
//
// A request is matched once: the mux holds the routes and a catch-all
// pattern ("/") that only requests no route matches reach. Only those are
// matched a second time, against the routes alone, to tell a 404 from a 405.
type Router struct {
	mux     *http.ServeMux // the routes and the catch-all
	routes  *http.ServeMux // the routes alone, for the 404/405 decision
	root    http.Handler   // the handler registered for every method at "/", if any
	handler http.Handler   // Recover around mux, built once
	logger  log.Logger
}

// NewRouter returns an empty Router that logs panics to logger.
func NewRouter(logger log.Logger) *Router {
	r := &Router{mux: http.NewServeMux(), routes: http.NewServeMux(), logger: logger}
	r.mux.Handle("/", http.HandlerFunc(r.unmatched))
	r.handler = Recover(logger, r.mux)
	return r
}

// Handle registers h for method and pattern, a Go 1.22 ServeMux path pattern
// such as "/api/v1/widgets/{id}". An empty method matches every method;
// "GET" also matches HEAD. Like http.ServeMux, it panics on conflicting
// patterns: that is a wiring bug found at startup.
func (r *Router) Handle(method, pattern string, h http.Handler) {
	if method == "" && pattern == "/" {
		// Every request no other route matches: that is what the catch-all
		// already gets, so it hands them on.
		if r.root != nil {
			panic(`httpx: Router: pattern "/" registered twice`)
		}
		r.root = h
		return
	}
	if method != "" {
		pattern = method + " " + pattern
	}
	h = tracing.Route(pattern, h)
	r.routes.Handle(pattern, h) // first: it panics on a conflict before mux is touched
	r.mux.Handle(pattern, h)
}

// ServeHTTP dispatches req to the matching handler, or writes a 404 or 405
// problem.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler.ServeHTTP(w, req)
}

// unmatched serves the requests no route matches (the mux's catch-all).
func (r *Router) unmatched(w http.ResponseWriter, req *http.Request) {
	if r.root != nil {
		r.root.ServeHTTP(w, req)
		return
	}
	// Let the mux of the routes alone decide between 404 and 405 (it knows
	// which methods the path allows), and replace its plain-text answer.
	rec := &headerRecorder{header: http.Header{}}
	r.routes.ServeHTTP(rec, req)
	if rec.status == http.StatusMethodNotAllowed {
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		// 405 has no kind of its own: it is an Invalid request with a more
		// precise status, which ErrorFromResponse maps back to Invalid.
		p := ProblemFor(req.Context(), errs.Errorf(errs.Invalid, "method %s not allowed for %s", req.Method, req.URL.Path))
		p.Status = http.StatusMethodNotAllowed
		p.Title = http.StatusText(p.Status)
		writeProblem(w, p)
		return
	}
	WriteError(w, req, r.logger, errs.New(errs.NotFound, "no such endpoint"))
}

// headerRecorder captures the status and headers of the mux's own 404/405
// answer and discards its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

// Recover turns a panic in next into a 500 problem (when the response has
// not started yet) and logs the panic value and stack with the request id.
// http.ErrAbortHandler is re-raised: it is net/http's way to abort a
// response on purpose.
func Recover(logger log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recoverWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			level.Error(logging.WithRequest(logger, r.Context())).Log("msg", "panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rw.wroteHeader {
				// Too late for a problem document; abort so the client sees a
				// broken response rather than a truncated one that looks whole.
				panic(http.ErrAbortHandler)
			}
			// Already logged with the stack; write without logging again.
			writeProblem(w, ProblemFor(r.Context(), errs.New(errs.Internal, "")))
		}()
		next.ServeHTTP(rw, r)
	})
}

// recoverWriter notes whether the response has started. It keeps the
// optional interfaces handlers rely on reachable: Flush and Hijack directly,
// everything else through Unwrap and http.ResponseController.
type recoverWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (w *recoverWriter) WriteHeader(status int) {
	if status >= 200 {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recoverWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *recoverWriter) Flush() {
	w.wroteHeader = true
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *recoverWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.wroteHeader = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *recoverWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
