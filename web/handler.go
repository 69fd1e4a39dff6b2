package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
)

// SitePrefix is the storefront's gateway prefix: the site root, which the
// gateway routes every path to that no API prefix matches, outside /api
// (gateway.SitePrefix).
const SitePrefix = "/"

// PublicRoutes are what the storefront announces to the gateway: the whole
// site, with no token, since it signs its visitors in with its own cookies.
var PublicRoutes = []consul.PublicRoute{{Method: http.MethodGet, Path: SitePrefix}, {Method: http.MethodPost, Path: SitePrefix}}

// contentSecurityPolicy allows the shop's own scripts, styles and images
// only: no inline script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes bounds a submitted form.
const maxFormBytes = 64 << 10

// Handler returns the storefront's routes behind its middleware,
// outermost first: security headers on every answer, the static files
// (no session needed), the visitor's session, and on every form the
// cross-origin check (net/http's CrossOriginProtection, by Sec-Fetch-Site
// and Origin) and the CSRF token.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.catalog)
	mux.HandleFunc("GET /products/{id}", s.product)
	mux.HandleFunc("GET /cart", s.cart)
	mux.HandleFunc("POST /cart/add", s.addToCart)
	mux.HandleFunc("POST /cart/update", s.updateCart)
	mux.HandleFunc("POST /checkout", s.signedIn(s.checkout))
	mux.HandleFunc("GET /orders", s.signedIn(s.orders))
	mux.HandleFunc("GET /orders/{id}", s.signedIn(s.order))
	mux.HandleFunc("POST /orders/{id}/cancel", s.signedIn(s.cancelOrder))
	mux.HandleFunc("GET /notifications", s.signedIn(s.notifications))
	mux.HandleFunc("POST /notifications/read", s.signedIn(s.markRead))
	mux.HandleFunc("GET /signup", s.signUpPage)
	mux.HandleFunc("POST /signup", s.signUp)
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.signOut)
	mux.HandleFunc("GET /account", s.signedIn(s.account))
	mux.HandleFunc("POST /account/password", s.signedIn(s.changePassword))
	mux.HandleFunc("GET /admin/products", s.admin(s.adminProducts))
	mux.HandleFunc("GET /admin/products/new", s.admin(s.newProductPage))
	mux.HandleFunc("POST /admin/products", s.admin(s.createProduct))
	mux.HandleFunc("GET /admin/products/{id}/edit", s.admin(s.editProductPage))
	mux.HandleFunc("POST /admin/products/{id}", s.admin(s.updateProduct))
	mux.HandleFunc("POST /admin/products/{id}/delete", s.admin(s.deleteProduct))
	mux.HandleFunc("/", s.notFound)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.forbiddenForm))
	site := s.sessions.Middleware(cop.Handler(s.csrf(mux)))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, StaticPrefix) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.assets.ServeHTTP(w, r)
			return
		}
		site.ServeHTTP(w, r)
	})
}

// csrf checks the token of every form: a request that changes anything
// must carry the visitor's token (Sessions.CSRFToken) in its "csrf" field.
func (s *Server) csrf(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
				s.renderError(w, r, http.StatusRequestEntityTooLarge, "That form is too large", "Shorten what you entered and try again.")
				return
			}
			s.renderError(w, r, http.StatusBadRequest, "That did not work", "The form could not be read. Go back, reload the page and try again.")
			return
		}
		if !s.sessions.CheckCSRF(visitorFrom(r.Context()), r.PostForm.Get("csrf")) {
			s.forbiddenForm(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) forbiddenForm(w http.ResponseWriter, r *http.Request) {
	level.Info(s.logger).Log("msg", "form refused: cross-origin or without a valid CSRF token", "path", r.URL.Path)
	s.renderError(w, r, http.StatusForbidden, "This form has expired",
		"The form did not come from this page or has expired. Go back, reload the page and try again.")
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.render(w, r, status, "error", page{Title: title, Data: map[string]string{"Message": msg, "Back": "/", "BackText": "Go to the catalog"}})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound, "Not found", "We could not find that page.")
}

// signedIn sends guests to the sign-in page, then back.
func (s *Server) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !visitorFrom(r.Context()).SignedIn() {
			next := r.URL.Path
			if r.Method != http.MethodGet {
				next = "/"
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		h(w, r)
	}
}

// admin lets admins through, sends guests to sign in and shows customers
// a 403. The product service checks the role again on every change.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request) {
		if !visitorFrom(r.Context()).Identity.HasRole(auth.RoleAdmin) {
			s.renderError(w, r, http.StatusForbidden, "Not allowed", "This page is for the shop's staff only.")
			return
		}
		h(w, r)
	})
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
