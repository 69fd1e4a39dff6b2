package notification

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// Limits of a rendered notification; the schema repeats them. Every text an
// event brings is cut to maxEventText first, so no template can reach them.
const (
	MaxTitleLen  = 200 // characters
	MaxBodyLen   = 2000
	maxEventText = 200
)

// templateFiles holds one template per Kind, templates/<kind>.tmpl, each
// defining "title" and "body" (text/template).
//
//go:embed templates/*.tmpl
var templateFiles embed.FS

// Facts are what a template may say: an event's data, checked and cut to
// size. Each kind's template uses the fields its event fills.
type Facts struct {
	Name    string // the user's name (welcome); may be empty
	OrderID string // the order's id (every order and payment kind)
	Total   Money  // the order's total, or the amount refunded
	Units   int64  // units ordered, all lines together
	// Reason is why, as the event says it: the shortage of a rejected
	// order ("only 2 left of SKU-1"), the reason code of a cancelled one
	// ("customer", "payment_declined"), the provider's message for a
	// declined payment.
	Reason string
	// PreviousStatus is the status a cancelled order had ("paid" owes a
	// refund).
	PreviousStatus string
}

// Templates render notifications: one parsed template per Kind.
type Templates struct {
	byKind map[Kind]*template.Template
}

// templateFuncs are the helpers templates may call.
var templateFuncs = template.FuncMap{
	// short is the first block of an id, as people quote it ("1a2b3c4d").
	"short": func(id string) string { s, _, _ := strings.Cut(id, "-"); return s },
	// plural says "1 item" or "3 items".
	"plural": func(n int64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + many
	},
}

// LoadTemplates parses the embedded templates. It fails unless there is
// exactly one template per Kind, each defining "title" and "body": a
// missing or extra template is a bug, found at start-up.
func LoadTemplates() (*Templates, error) { return ParseTemplates(templateFiles, "templates") }

// ParseTemplates parses the templates in dir of fsys, <kind>.tmpl each, with
// the rules of LoadTemplates.
func ParseTemplates(fsys fs.FS, dir string) (*Templates, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.tmpl"))
	if err != nil {
		return nil, fmt.Errorf("notification: templates: %w", err)
	}
	t := &Templates{byKind: make(map[Kind]*template.Template, len(Kinds))}
	for _, name := range names {
		kind := Kind(strings.TrimSuffix(path.Base(name), ".tmpl"))
		if !slices.Contains(Kinds, kind) {
			return nil, fmt.Errorf("notification: template %s is for no kind of notification", name)
		}
		tmpl, err := template.New(string(kind)).Funcs(templateFuncs).Option("missingkey=error").ParseFS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("notification: template %s: %w", name, err)
		}
		for _, part := range []string{"title", "body"} {
			if tmpl.Lookup(part) == nil {
				return nil, fmt.Errorf("notification: template %s does not define %q", name, part)
			}
		}
		t.byKind[kind] = tmpl
	}
	for _, kind := range Kinds {
		if t.byKind[kind] == nil {
			return nil, fmt.Errorf("notification: no template for %s (want %s/%s.tmpl)", kind, dir, kind)
		}
	}
	return t, nil
}

// Render returns the title and body of a notification of kind about f. An
// error is a bug in a template (a field it names that Facts lacks), not
// bad input.
func (t *Templates) Render(kind Kind, f Facts) (title, body string, err error) {
	tmpl := t.byKind[kind]
	if tmpl == nil {
		return "", "", fmt.Errorf("notification: no template for %q", kind)
	}
	var out [2]string
	for i, part := range []string{"title", "body"} {
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, part, f); err != nil {
			return "", "", fmt.Errorf("notification: rendering %s: %w", kind, err)
		}
		out[i] = strings.TrimSpace(b.String())
	}
	if n := utf8.RuneCountInString(out[0]); n == 0 || n > MaxTitleLen {
		return "", "", fmt.Errorf("notification: %s title of %d characters", kind, n)
	}
	if n := utf8.RuneCountInString(out[1]); n == 0 || n > MaxBodyLen {
		return "", "", fmt.Errorf("notification: %s body of %d characters", kind, n)
	}
	return out[0], out[1], nil
}

// Money is an amount in a currency's minor unit (cents).
type Money struct {
	Minor    int64
	Currency string // ISO 4217, e.g. "EUR"
}

// minorDigits are the ISO 4217 currencies whose minor unit is not a
// hundredth.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// String formats the amount with its currency's decimals and code:
// "25.00 EUR", "1500 JPY", "-0.05 USD".
func (m Money) String() string {
	digits, ok := minorDigits[m.Currency]
	if !ok {
		digits = 2
	}
	sign, u := "", uint64(m.Minor)
	if m.Minor < 0 {
		sign, u = "-", -u // two's complement: right for math.MinInt64 too
	}
	if digits == 0 {
		return sign + strconv.FormatUint(u, 10) + " " + m.Currency
	}
	pow := uint64(1)
	for range digits {
		pow *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, u/pow, digits, u%pow, m.Currency)
}

// eventText makes a text an event carries fit for a notification: valid
// UTF-8 on one line (control characters become spaces, runs of spaces
// one), without a closing full stop (templates add their own), at most
// maxEventText characters.
func eventText(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > maxEventText {
		s = string([]rune(s)[:maxEventText-1]) + "…"
	}
	return strings.TrimRight(s, ". ")
}
