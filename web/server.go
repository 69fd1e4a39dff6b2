package web

import (
	"bytes"
	"embed"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"strings"
	"unicode"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
)

//go:embed templates
var templateFS embed.FS

// Server is the storefront: one small handler per page, rendered with
// html/template, behind the security headers, the sessions and the CSRF
// checks (Handler).
type Server struct {
	shop     *Shop
	carts    *Carts
	sessions *Sessions
	assets   *Assets
	pages    map[string]*template.Template
	logger   log.Logger
	trustXFF bool
}

// Option configures NewServer.
type Option func(*Server)

// TrustForwardedFor makes the shopper's address, which the user service's
// sign-in throttle counts, the last X-Forwarded-For entry (the gateway
// appends it) instead of the connection's peer. Only set it when the shop
// is reachable solely through the gateway: otherwise a client picks a
// fresh address per request and escapes the throttle.
func TrustForwardedFor(trust bool) Option { return func(s *Server) { s.trustXFF = trust } }

// NewServer returns the storefront on shop, with the signed-in shoppers'
// carts in carts.
func NewServer(shop *Shop, carts *Carts, sessions *Sessions, logger log.Logger, opts ...Option) (*Server, error) {
	assets, err := NewAssets()
	if err != nil {
		return nil, err
	}
	s := &Server{shop: shop, carts: carts, sessions: sessions, assets: assets, pages: map[string]*template.Template{}, logger: logger}
	for _, opt := range opts {
		opt(s)
	}
	funcs := template.FuncMap{
		"asset":            assets.Path,
		"money":            money,
		"initials":         initials,
		"placeholderClass": placeholderClass,
		"when":             when,
		"shortID":          func(id string) string { return id[:min(len(id), 8)] },
		"statusName":       statusName,
		"statusText":       statusText,
		"paymentText":      paymentText,
		"field":            newField,
		"int64":            func(n int) int64 { return int64(n) },
	}
	for _, name := range []string{"catalog", "product", "cart", "orders", "order", "notifications", "signin", "signup",
		"account", "admin_products", "admin_product_form", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		s.pages[name] = t
	}
	return s, nil
}

// page is what every template gets.
type page struct {
	Title      string
	V          *Visitor
	CSRF       string
	CartCount  int
	Unread     int64
	Notice     string
	NoticeKind string
	Refresh    int // seconds until the page reloads itself; 0: never
	NoStore    bool
	Data       any
}

// render writes a page with status; the header's counts are read here.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	v := visitorFrom(r.Context())
	p.V, p.CSRF = v, s.sessions.CSRFToken(v)
	if lines, err := s.cartLines(r); err == nil {
		for _, l := range lines {
			p.CartCount += l.Quantity
		}
	}
	if v.SignedIn() && p.Unread == 0 {
		if resp, err := s.shop.ListNotifications(r.Context(), 1); err == nil {
			p.Unread = resp.GetUnreadCount()
		}
	}
	if p.Notice == "" {
		p.Notice, p.NoticeKind = notices[r.URL.Query().Get("m")].text, notices[r.URL.Query().Get("m")].kind
	}
	// Pages about one shopper are never kept: the back button after a
	// checkout or a sign-out asks the server again (and app.js reloads
	// them when the browser restores them from its back/forward cache).
	p.NoStore = v.SignedIn() || name != "catalog" && name != "product"
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		level.Error(s.logger).Log("msg", "rendering a page", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.NoStore {
		w.Header().Set("Cache-Control", "no-store")
	} else {
		w.Header().Set("Cache-Control", "private, no-cache")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// notices are the messages a redirect may name (?m=), so that no text
// from a URL reaches a page.
var notices = map[string]struct{ text, kind string }{
	"added":     {"Added to your cart.", "ok"},
	"welcome":   {"Welcome! You are signed in.", "ok"},
	"signedin":  {"You are signed in.", "ok"},
	"signedout": {"You are signed out.", "ok"},
	"password":  {"Your password was changed.", "ok"},
	"saved":     {"The product was saved.", "ok"},
	"deleted":   {"The product was deleted.", "ok"},
	"cancelled": {"The order was cancelled; its items are back in stock.", "ok"},
	"merged":    {"You are signed in. The items you added as a guest are in your cart.", "ok"},
}

// fail renders an error page for err: a readable message, never the
// services' raw answers.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, title := errs.HTTPStatus(errs.KindOf(err)), "Something went wrong"
	msg := errs.Message(err)
	switch errs.KindOf(err) {
	case errs.NotFound, errs.Invalid:
		status, title, msg = http.StatusNotFound, "Not found", "We could not find that page. It may have been removed."
	case errs.Forbidden:
		title, msg = "Not allowed", "This page is for the shop's staff only."
	case errs.Unavailable, errs.RateLimited:
		title = "Please try again"
		if d := errs.RetryAfterOf(err); d > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(d.Seconds()+0.5)))
		}
	case errs.Internal:
		level.Error(s.logger).Log("msg", "page failed", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, status, "error", page{Title: title, Data: map[string]string{"Message": msg, "Back": "/", "BackText": "Go to the catalog"}})
}

// Form is a submitted form: its values (for the form shown again) and a
// message per field, from the services' validation.
type Form struct {
	Values  map[string]string
	Errors  map[string]string
	Message string // about the form as a whole
}

func newForm() Form { return Form{Values: map[string]string{}, Errors: map[string]string{}} }

// setError puts err on the form: each field error next to its field
// (rename maps a service's field names to the form's), else a message.
func (f *Form) setError(err error, rename map[string]string) {
	fields := errs.FieldsOf(err)
	for _, fe := range fields {
		name := fe.Field
		if to, ok := rename[name]; ok {
			name = to
		}
		if _, taken := f.Errors[name]; !taken {
			f.Errors[name] = sentence(fe.Message)
		}
	}
	if len(fields) == 0 || !errs.KindOf(err).Business() {
		f.Message = sentence(errs.Message(err))
	}
}

// fieldArgs is what the "field" template takes.
type fieldArgs struct {
	Form                          Form
	Name, Label, Type, Auto, Hint string
	Required                      bool
}

func newField(f Form, name, label, typ, auto, hint string) fieldArgs {
	return fieldArgs{Form: f, Name: name, Label: label, Type: typ, Auto: auto, Hint: hint}
}

// sentence capitalises a message and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	if !strings.ContainsRune(".!?", r[len(r)-1]) {
		r = append(r, '.')
	}
	return string(r)
}

func money(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	amount := fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
	switch currency {
	case "EUR":
		return "€" + amount
	case "USD":
		return "$" + amount
	case "GBP":
		return "£" + amount
	}
	return amount + " " + currency
}

func initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		for _, c := range w {
			if unicode.IsLetter(c) || unicode.IsDigit(c) {
				out = append(out, unicode.ToUpper(c))
				break
			}
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// placeholderClass picks one of the placeholder colours by SKU, so a
// product keeps its colour everywhere.
func placeholderClass(sku string) string {
	h := fnv.New32a()
	h.Write([]byte(sku))
	return fmt.Sprintf("ph-%d", h.Sum32()%8)
}

func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format("2 Jan 2006, 15:04 UTC")
}

func paymentText(pm string) string {
	switch pm {
	case "pm_card_visa":
		return "Visa ending 4242"
	case "pm_card_chargeDeclined":
		return "a card that is declined"
	case "":
		return "no card"
	}
	return pm
}
