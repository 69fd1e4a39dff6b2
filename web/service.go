// Package web is the web service: items with a unique name, a
// description and a quantity, listed, read and created over HTTP and gRPC.
//
// The package reads top to bottom as its layers: service.go (the domain:
// types, rules and the Service interface), postgres.go (the Repository on
// Postgres), endpoint.go (go-kit endpoints and the access rules),
// transport_http.go and transport_grpc.go (the two wire formats) and
// middleware.go (service middleware). cmd/web wires them together.
//
// Anyone may read the items; only admins may create them. The rule is
// enforced at the endpoints (NewEndpoints), which both transports share,
// with access tokens verified by kit/auth.
//
// docs/adding-a-service.md walks through the layers and shows how to add an
// endpoint, a middleware, a migration or a call to another service.
package web

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kitshop/kitshop/kit/paging"
	"github.com/kitshop/kitshop/kit/validate"
)

// Limits on item fields. The database schema repeats them as CHECK
// constraints (migrations/web).
//
// A page token carries the last name of its page (kit/paging), so a name
// must fit in one: MaxNameLen characters of up to 4 bytes each stay within
// paging.MaxTokenLen. A longer keyset field needs a shorter token, such as
// the time and id that order's pages carry.
const (
	MaxNameLen        = 40 // characters, after trimming spaces
	MaxDescriptionLen = 2000
	MaxQuantity       = 1_000_000_000
	DefaultPageSize   = paging.DefaultLimit
	MaxPageSize       = paging.MaxLimit
)

// Item is one item of the web service.
type Item struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Quantity    int64     `json:"quantity"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NewItem is the input of Create.
type NewItem struct {
	Name        string
	Description string
	Quantity    int64
}

// ListQuery selects one page of items.
type ListQuery struct {
	// Limit is the page size, 1..MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty for the
	// first page. It is opaque to clients.
	PageToken string
}

// Page is one page of items in name order.
type Page struct {
	Items []Item
	// NextPageToken fetches the following page; empty on the last page.
	NextPageToken string
}

// Service manages the items.
//
// Every method returns *errs.Error values: Invalid (with one errs.FieldError
// per bad field) for bad input including a malformed id, NotFound for an
// unknown id, Conflict for a duplicate name, and Unavailable or Internal
// when the database fails.
type Service interface {
	// List returns one page of items ordered by name. Invalid for a bad
	// limit or page token.
	List(ctx context.Context, q ListQuery) (Page, error)

	// Get returns the item with the given id. Invalid if id is not a UUID,
	// NotFound if there is no such item.
	Get(ctx context.Context, id string) (Item, error)

	// Create adds an item and returns it with its id and timestamps.
	// Invalid if a field breaks the rules (see ValidateNew), Conflict if
	// the name is taken.
	Create(ctx context.Context, it NewItem) (Item, error)
}

// Filter is a validated ListQuery as the Repository sees it.
type Filter struct {
	AfterName string // keyset: only names strictly greater; empty for the start
	Limit     int    // maximum number of items to return, > 0
}

// Repository stores items. It receives validated, normalised input and
// reports failures as *errs.Error: NotFound for a missing row, Conflict for
// a duplicate name, Unavailable or Internal for database failures.
type Repository interface {
	// List returns up to f.Limit items in name order.
	List(ctx context.Context, f Filter) ([]Item, error)
	// Get returns the item with id (a canonical UUID).
	Get(ctx context.Context, id string) (Item, error)
	// Create inserts it and returns the stored item.
	Create(ctx context.Context, it NewItem) (Item, error)
}

// Middleware decorates a Service with a cross-cutting concern.
type Middleware func(Service) Service

// NewService returns the service backed by repo.
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
	items, err := s.repo.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextPageToken = encodePageToken(page.Items[limit-1].Name)
	}
	if page.Items == nil {
		page.Items = []Item{} // an empty list, not null, on the wire
	}
	return page, nil
}

func (s *service) Get(ctx context.Context, id string) (Item, error) {
	id, err := ParseID(id)
	if err != nil {
		return Item{}, err
	}
	return s.repo.Get(ctx, id)
}

func (s *service) Create(ctx context.Context, it NewItem) (Item, error) {
	it, err := ValidateNew(it)
	if err != nil {
		return Item{}, err
	}
	return s.repo.Create(ctx, it)
}

// ParseID returns id in canonical form (lower-case, hyphenated) or an
// Invalid error. Only the canonical 36-character form is accepted, so one
// item has one URL. A malformed id is the client's mistake (400), not a
// missing item (404).
func ParseID(id string) (string, error) { return validate.ID(id, "malformed item id") }

// ValidateNew normalises it (trims the name) and checks every field,
// returning an Invalid error that lists all bad fields.
func ValidateNew(it NewItem) (NewItem, error) {
	var v validator
	it.Name = v.name(it.Name)
	v.description(it.Description)
	v.quantity(it.Quantity)
	return it, v.Err()
}

func validateListQuery(q ListQuery) (Filter, error) {
	var v validator
	f := Filter{Limit: q.Limit}
	if limit, ok := paging.DefaultSizes.Limit(q.Limit); ok {
		f.Limit = limit
	} else {
		v.Add("limit", paging.DefaultSizes.RangeMessage())
	}
	if q.PageToken != "" {
		after, ok := decodePageToken(q.PageToken)
		if !ok {
			v.Add("page_token", "is not a token returned by this API")
		}
		f.AfterName = after
	}
	return f, v.Err()
}

// validator collects field errors so that one response lists them all,
// with the service's own rules as methods.
type validator struct{ validate.Fields }

func (v *validator) name(s string) string {
	s = strings.TrimSpace(s)
	if msg := nameProblem(s); msg != "" {
		v.Add("name", msg)
	}
	return s
}

// nameProblem says what is wrong with a trimmed name, or "" if nothing.
func nameProblem(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "must not be empty"
	case n > MaxNameLen:
		return "must be at most 40 characters"
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return "must be valid UTF-8 text without control characters"
	}
	return ""
}

func (v *validator) description(s string) {
	switch {
	case utf8.RuneCountInString(s) > MaxDescriptionLen:
		v.Add("description", "must be at most 2000 characters")
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		// Postgres text cannot hold NUL; let it through and it is a 500.
		v.Add("description", "must be valid UTF-8 text without NUL characters")
	}
}

func (v *validator) quantity(n int64) {
	if n < 0 || n > MaxQuantity {
		v.Add("quantity", "must be between 0 and 1000000000")
	}
}

// Page tokens carry the last name of a page (kit/paging).
func encodePageToken(lastName string) string { return paging.Encode(lastName) }

func decodePageToken(token string) (lastName string, ok bool) {
	fields, ok := paging.Decode(token, 1)
	if !ok || fields[0] != strings.TrimSpace(fields[0]) || nameProblem(fields[0]) != "" {
		return "", false
	}
	return fields[0], true
}
