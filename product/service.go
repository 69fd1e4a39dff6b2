// Package product is the catalog service: products with a SKU, a price and a
// stock level, listed, read and maintained over HTTP and gRPC.
//
// The package reads top to bottom as its layers: service.go (the domain: types,
// rules and the Service interface), reservation.go (the Stock API other
// services reserve and release stock with), events.go (the events the
// catalog publishes), postgres.go and postgres_stock.go (the Repository and
// StockRepository on Postgres), postgres_tx.go (the pipelined transactions
// they write in), cache.go (the read cache in front of it, kept correct by
// Postgres notifications), stale.go (marking what the cache serves while the
// database is out), endpoint.go (go-kit endpoints), transport_http.go and
// transport_grpc.go (the two wire formats) and middleware.go (service
// middleware). cmd/product wires them together: main.go builds the layers on
// kit/app, flags.go holds the service's own settings.
//
// Every change to a product is published as a product.changed event
// (kitshop.product.v1.ProductChanged on EventStream): created, updated,
// deleted, or its stock changed, by an admin or by a reservation or a
// release. The event is written to the outbox (kit/outbox) in the
// transaction that makes the change, so it is published if and only if the
// change commits, and carries the product as the change left it. Other
// services keep their copies of the catalog with it.
//
// Anyone may read the catalog; only admins may change it. The rule is
// enforced at the endpoints (NewEndpoints), which both transports share, with
// access tokens verified by kit/auth: the service checks every write itself,
// whether it came through the gateway, straight to its HTTP port, or over
// gRPC.
package product

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/paging"
	"github.com/kitshop/kitshop/kit/validate"
)

// Limits on product fields. The database schema repeats them as CHECK
// constraints (migrations/product).
const (
	MaxNameLen        = 200            // characters, after trimming spaces
	MaxDescriptionLen = 4000           // characters
	MaxPriceMinor     = 100_000_000_00 // 100 million in major units
	MaxStock          = 1_000_000_000
	MaxQueryLen       = 200 // characters of the List text filter
	DefaultPageSize   = paging.DefaultLimit
	MaxPageSize       = paging.MaxLimit
)

// Product is one catalog entry. Prices are integers in the currency's minor
// unit (cents for EUR and USD), so no rounding ever happens.
type Product struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceMinor  int64     `json:"price_minor"`
	Currency    string    `json:"currency"`
	Stock       int64     `json:"stock"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NewProduct is the input of Create.
type NewProduct struct {
	SKU         string
	Name        string
	Description string
	PriceMinor  int64
	Currency    string
	Stock       int64
}

// Patch is the input of Update: nil fields are left unchanged.
type Patch struct {
	SKU         *string
	Name        *string
	Description *string
	PriceMinor  *int64
	Currency    *string
	Stock       *int64
}

// Empty reports whether the patch changes nothing.
func (p Patch) Empty() bool {
	return p.SKU == nil && p.Name == nil && p.Description == nil &&
		p.PriceMinor == nil && p.Currency == nil && p.Stock == nil
}

// Fields returns the names of the fields the patch sets, as they appear on
// the wire; logs use it to say what changed without logging values.
func (p Patch) Fields() []string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"sku", p.SKU != nil},
		{"name", p.Name != nil},
		{"description", p.Description != nil},
		{"price_minor", p.PriceMinor != nil},
		{"currency", p.Currency != nil},
		{"stock", p.Stock != nil},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// ListQuery selects one page of products.
type ListQuery struct {
	// Limit is the page size, 1..MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty for the
	// first page. It is opaque to clients.
	PageToken string
	// Q, if not empty, keeps only products whose name, SKU or description
	// contains it, ignoring case. It is a plain substring: % and _ have no
	// special meaning.
	Q string
}

// Page is one page of products in SKU order.
type Page struct {
	Products []Product
	// NextPageToken fetches the following page; empty on the last page.
	NextPageToken string
}

// Service is the product catalog.
//
// Every method returns *errs.Error values: Invalid (with one errs.FieldError
// per bad field) for bad input including a malformed id, NotFound for an
// unknown id, Conflict for a duplicate SKU, and Unavailable or Internal when
// the database fails.
type Service interface {
	// List returns one page of products ordered by SKU. Invalid for a bad
	// limit, page token or filter.
	List(ctx context.Context, q ListQuery) (Page, error)

	// Get returns the product with the given id. Invalid if id is not a UUID,
	// NotFound if there is no such product.
	Get(ctx context.Context, id string) (Product, error)

	// Create adds a product and returns it with its id and timestamps.
	// Invalid if any field breaks the rules (see Validate), Conflict if the
	// SKU is taken.
	Create(ctx context.Context, p NewProduct) (Product, error)

	// Update changes the fields set in patch and returns the result. Invalid
	// if id is not a UUID, the patch is empty or a field breaks the rules;
	// NotFound if there is no such product; Conflict if the new SKU is taken.
	Update(ctx context.Context, id string, patch Patch) (Product, error)

	// Delete removes a product. Invalid if id is not a UUID, NotFound if
	// there is no such product.
	Delete(ctx context.Context, id string) error
}

// Filter is a validated ListQuery as the Repository sees it.
type Filter struct {
	AfterSKU string // keyset: only SKUs strictly greater; empty for the start
	Q        string // substring filter, empty for none; not escaped
	Limit    int    // maximum number of products to return, > 0
}

// Repository stores products. It receives validated, normalised input and
// reports failures as *errs.Error: NotFound for a missing row, Conflict for a
// duplicate SKU, Unavailable or Internal for database failures.
type Repository interface {
	// List returns up to f.Limit products in SKU order.
	List(ctx context.Context, f Filter) ([]Product, error)
	// Get returns the product with id (a canonical UUID).
	Get(ctx context.Context, id string) (Product, error)
	// Create inserts p and returns the stored product.
	Create(ctx context.Context, p NewProduct) (Product, error)
	// Update applies a non-empty patch and returns the stored product.
	Update(ctx context.Context, id string, patch Patch) (Product, error)
	// Delete removes the product with id.
	Delete(ctx context.Context, id string) error
}

// Middleware decorates a Service with a cross-cutting concern.
type Middleware func(Service) Service

// NewService returns the catalog service backed by repo.
func NewService(repo Repository) Service {
	return &service{repo: repo}
}

type service struct {
	repo Repository
}

func (s *service) List(ctx context.Context, q ListQuery) (Page, error) {
	f, err := validateListQuery(q)
	if err != nil {
		return Page{}, err
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	products, err := s.repo.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	page := Page{Products: products}
	if len(products) > limit {
		page.Products = products[:limit]
		page.NextPageToken = encodePageToken(page.Products[limit-1].SKU)
	}
	if page.Products == nil {
		page.Products = []Product{} // an empty list, not null, on the wire
	}
	return page, nil
}

func (s *service) Get(ctx context.Context, id string) (Product, error) {
	id, err := ParseID(id)
	if err != nil {
		return Product{}, err
	}
	return s.repo.Get(ctx, id)
}

func (s *service) Create(ctx context.Context, p NewProduct) (Product, error) {
	p, err := ValidateNew(p)
	if err != nil {
		return Product{}, err
	}
	return s.repo.Create(ctx, p)
}

func (s *service) Update(ctx context.Context, id string, patch Patch) (Product, error) {
	id, err := ParseID(id)
	if err != nil {
		return Product{}, err
	}
	patch, err = ValidatePatch(patch)
	if err != nil {
		return Product{}, err
	}
	return s.repo.Update(ctx, id, patch)
}

func (s *service) Delete(ctx context.Context, id string) error {
	id, err := ParseID(id)
	if err != nil {
		return err
	}
	return s.repo.Delete(ctx, id)
}

// ParseID returns id in canonical form (lower-case, hyphenated) or an Invalid
// error. Only the canonical 36-character form is accepted, so one product
// has one URL. A malformed id is the client's mistake (400), not a missing
// product (404).
func ParseID(id string) (string, error) { return validate.ID(id, "malformed product id") }

// skuPattern is the SKU format after normalisation: upper-case letters,
// digits and hyphens, 3 to 64 characters, not starting with a hyphen.
var skuPattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{2,63}$`)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// NormalizeSKU trims spaces and upper-cases s. SKUs are case-insensitive:
// "cof-001" and "COF-001" are the same SKU, stored as "COF-001".
func NormalizeSKU(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// ValidateNew normalises p (trims the name, upper-cases SKU and currency) and
// checks every field, returning an Invalid error that lists all bad fields.
func ValidateNew(p NewProduct) (NewProduct, error) {
	var v validator
	p.SKU = v.sku(p.SKU)
	p.Name = v.name(p.Name)
	v.description(p.Description)
	v.price(p.PriceMinor)
	p.Currency = v.currency(p.Currency)
	v.stock(p.Stock)
	return p, v.Err()
}

// ValidatePatch normalises and checks the fields set in patch like
// ValidateNew. An empty patch is Invalid: it is almost certainly a client bug
// (a misspelt field), not an intent to change nothing.
func ValidatePatch(patch Patch) (Patch, error) {
	if patch.Empty() {
		return patch, errs.New(errs.Invalid, "patch must set at least one field")
	}
	var v validator
	if patch.SKU != nil {
		sku := v.sku(*patch.SKU)
		patch.SKU = &sku
	}
	if patch.Name != nil {
		name := v.name(*patch.Name)
		patch.Name = &name
	}
	if patch.Description != nil {
		v.description(*patch.Description)
	}
	if patch.PriceMinor != nil {
		v.price(*patch.PriceMinor)
	}
	if patch.Currency != nil {
		c := v.currency(*patch.Currency)
		patch.Currency = &c
	}
	if patch.Stock != nil {
		v.stock(*patch.Stock)
	}
	return patch, v.Err()
}

func validateListQuery(q ListQuery) (Filter, error) {
	var v validator
	f := Filter{Limit: q.Limit, Q: strings.TrimSpace(q.Q)}
	if limit, ok := paging.DefaultSizes.Limit(q.Limit); ok {
		f.Limit = limit
	} else {
		v.Add("limit", paging.DefaultSizes.RangeMessage())
	}
	if utf8.RuneCountInString(f.Q) > MaxQueryLen {
		v.Add("q", "must be at most 200 characters")
	} else if !utf8.ValidString(f.Q) || strings.ContainsRune(f.Q, 0) {
		v.Add("q", "must be valid UTF-8 text without NUL characters")
	}
	if q.PageToken != "" {
		after, ok := decodePageToken(q.PageToken)
		if !ok {
			v.Add("page_token", "is not a token returned by this API")
		}
		f.AfterSKU = after
	}
	return f, v.Err()
}

// validator collects field errors so that one response lists them all,
// with the service's own rules as methods.
type validator struct{ validate.Fields }

func (v *validator) sku(s string) string {
	s = NormalizeSKU(s)
	switch {
	case s == "":
		v.Add("sku", "must not be empty")
	case !skuPattern.MatchString(s):
		v.Add("sku", "must be 3 to 64 letters, digits or hyphens, starting with a letter or digit")
	}
	return s
}

func (v *validator) name(s string) string { return v.Line("name", s, MaxNameLen) }

func (v *validator) description(s string) {
	switch {
	case utf8.RuneCountInString(s) > MaxDescriptionLen:
		v.Add("description", "must be at most 4000 characters")
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		// Postgres text cannot hold NUL; let it through and it is a 500.
		v.Add("description", "must be valid UTF-8 text without NUL characters")
	}
}

func (v *validator) price(p int64) {
	if p < 0 || p > MaxPriceMinor {
		v.Add("price_minor", "must be between 0 and 10000000000")
	}
}

func (v *validator) currency(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !currencyPattern.MatchString(s) {
		v.Add("currency", "must be a three-letter ISO 4217 code such as EUR")
	}
	return s
}

func (v *validator) stock(n int64) {
	if n < 0 || n > MaxStock {
		v.Add("stock", "must be between 0 and 1000000000")
	}
}

// Page tokens carry the last SKU of a page (kit/paging).
func encodePageToken(lastSKU string) string { return paging.Encode(lastSKU) }

func decodePageToken(token string) (lastSKU string, ok bool) {
	fields, ok := paging.Decode(token, 1)
	if !ok || !skuPattern.MatchString(fields[0]) {
		return "", false
	}
	return fields[0], true
}
