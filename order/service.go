// Package order is the order service: customers place orders for catalog
// products, read and cancel them; stock is reserved in the product service
// so that nothing is ever oversold.
//
// The package reads top to bottom as its layers: service.go (the domain:
// types, rules, the Service interface and the order saga), catalog.go (what
// the service needs from the product service), catalog_grpc.go (that, over
// gRPC with discovery, retries and a circuit breaker), recovery.go (the loop
// that finishes sagas a crash or an outage interrupted), postgres.go (the
// Repository on Postgres), endpoint.go (go-kit endpoints),
// transport_http.go and transport_grpc.go (the two wire formats) and
// middleware.go (service middleware). cmd/order wires them together.
//
// # The saga
//
// Placing an order touches two databases, the order service's and the
// catalog's, so it cannot be one transaction. It is a saga of local
// transactions, each of which leaves a state the recovery loop can finish:
//
//  1. Price the lines: BatchGetProducts. Names, SKUs and prices come from
//     the catalog, never from the client. Nothing is written yet, so a
//     catalog outage costs nothing.
//  2. Insert the order as pending, with its lines and idempotency key.
//  3. ReserveStock(order id, lines): all or nothing in the catalog, and
//     idempotent per order id.
//  4. Confirmed if the reservation succeeded; rejected (nothing reserved) if
//     stock was short; failed with release_pending if the catalog could not
//     be reached: the reservation may or may not have happened, so a
//     ReleaseStock is owed, made at once if possible and by the recovery
//     loop otherwise. ReleaseStock leaves a tombstone, so a reservation that
//     was still on its way when the release arrived cannot land afterwards.
//
// A crash between 2 and 4 leaves a pending order: the recovery loop reserves
// again (a no-op if the first call got through) and confirms or rejects. A
// crash after a failed order is written but before its release leaves
// release_pending set: the loop releases. Every status change is a
// conditional update (WHERE status = the expected one), so the live request
// and the recovery loop can race without undoing each other.
package order

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/paging"
	"github.com/kitshop/kitshop/kit/validate"
)

// Limits on orders. The database schema repeats them as CHECK constraints
// (migrations/order).
const (
	MaxLines          = 50   // lines per order, after merging lines for the same product
	MaxQuantity       = 1000 // units per line
	MaxIdempotencyKey = 255  // bytes of an Idempotency-Key
	DefaultPageSize   = paging.DefaultLimit
	MaxPageSize       = paging.MaxLimit
)

// Status is where an order is in its life.
type Status string

// The statuses. Pending is transient: every pending order ends confirmed,
// rejected or failed, by the request that placed it or by the recovery loop.
const (
	StatusPending   Status = "pending"   // placed; stock not reserved yet
	StatusConfirmed Status = "confirmed" // stock reserved
	StatusRejected  Status = "rejected"  // short stock: nothing reserved
	StatusFailed    Status = "failed"    // catalog unreachable: nothing stays reserved
	StatusCancelled Status = "cancelled" // cancelled; stock given back
)

// Order is one order. Amounts are integers in the currency's minor unit.
type Order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     Status    `json:"status"`
	Items      []Item    `json:"items"`
	TotalMinor int64     `json:"total_minor"`
	Currency   string    `json:"currency"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Item is one line of an order, as the catalog priced it when the order was
// placed.
type Item struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	Quantity       int64  `json:"quantity"`
	LineTotalMinor int64  `json:"line_total_minor"`
}

// LineRequest asks for Quantity units of a product.
type LineRequest struct {
	ProductID string
	Quantity  int64
}

// NewOrder is the input of Create.
type NewOrder struct {
	// Items are the lines asked for, 1 to MaxLines; lines for the same
	// product are merged into one (quantities added), in the position of
	// the first.
	Items []LineRequest
	// IdempotencyKey, if not empty, makes Create safe to retry: see Create.
	IdempotencyKey string
}

// Created is the result of Create.
type Created struct {
	Order Order
	// Replayed is true when the order was placed by an earlier request with
	// the same idempotency key, and false when this request placed it.
	Replayed bool
}

// ListQuery selects one page of orders.
type ListQuery struct {
	// Limit is the page size, 1..MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty.
	PageToken string
	// All lists every user's orders instead of the caller's; admins only.
	All bool
}

// Page is one page of orders, newest first.
type Page struct {
	Orders []Order
	// NextPageToken fetches the following page; empty on the last page.
	NextPageToken string
}

// Service places and manages orders. The caller is the identity on the
// context (kit/auth); without one every method returns Unauthenticated.
//
// Every method returns *errs.Error values: Invalid (with one errs.FieldError
// per bad field) for bad input, NotFound for an order the caller may not see,
// Conflict for a state that does not allow the operation, and Unavailable or
// Internal when the catalog or the database fails.
type Service interface {
	// Create places an order for the caller and returns it confirmed: its
	// stock is reserved.
	//
	// Invalid for bad lines, unknown products (field items[i].product_id)
	// or products in different currencies. Conflict with one field per short
	// line (items[i].quantity, "only N left") when stock is short: the order
	// is kept as rejected and nothing is reserved. Unavailable when the
	// catalog cannot be reached: nothing is ordered or reserved, and the
	// request may be retried (with the same idempotency key).
	//
	// With an idempotency key, a request repeating an earlier one (same key,
	// same lines after merging) returns that request's outcome with Replayed
	// set: its order, or its rejection; one still in progress is Conflict
	// with a retry hint. The same key with other lines is Conflict. A key
	// whose request failed (Unavailable) is forgotten, so a retry tries
	// again.
	Create(ctx context.Context, o NewOrder) (Created, error)

	// Get returns the order with id. NotFound for an unknown id and for
	// another user's order unless the caller is an admin; Invalid if id is
	// not a UUID.
	Get(ctx context.Context, id string) (Order, error)

	// List returns one page of the caller's orders, newest first, or of
	// everyone's with q.All (Forbidden for non-admins). Invalid for a bad
	// limit or page token.
	List(ctx context.Context, q ListQuery) (Page, error)

	// Cancel cancels a pending or confirmed order and gives its stock back
	// (at once when the catalog answers, otherwise by the recovery loop;
	// the order is cancelled either way). Get's rules on who may; Conflict
	// for an order in any other status.
	Cancel(ctx context.Context, id string) (Order, error)
}

// Repository stores orders. It receives validated input and reports
// failures as *errs.Error: NotFound for a missing order, Unavailable or
// Internal for database failures. Status changes are conditional: they
// happen only from the given statuses, atomically, and report whether they
// did.
type Repository interface {
	// CreatePending inserts o (status pending, id set) with its items and,
	// if key.Key is set, its idempotency key, in one transaction. If the
	// caller already used the key, it inserts nothing and returns a
	// Conflict error wrapping ErrDuplicateKey.
	CreatePending(ctx context.Context, o Order, key IdempotencyKey) (Order, error)
	// ByIdempotencyKey returns the order of userID placed with key and the
	// request hash stored with it; NotFound if there is none.
	ByIdempotencyKey(ctx context.Context, userID, key string) (Order, []byte, error)
	// Get returns the order with id (a canonical UUID).
	Get(ctx context.Context, id string) (Order, error)
	// Rejection returns the field errors stored with a rejected order.
	Rejection(ctx context.Context, id string) ([]errs.FieldError, error)
	// List returns up to f.Limit orders, newest first.
	List(ctx context.Context, f Filter) ([]Order, error)
	// Transition moves the order from one of the statuses in from to t.To,
	// and reports whether it did; the returned order is the current one
	// either way. NotFound if there is no such order.
	Transition(ctx context.Context, id string, from []Status, t Transition) (Order, bool, error)
	// ClearReleasePending records that the order's stock was released.
	ClearReleasePending(ctx context.Context, id string) error
	// StalePending returns up to limit orders pending since before
	// olderThan, oldest first.
	StalePending(ctx context.Context, olderThan time.Time, limit int) ([]Order, error)
	// ReleasePending returns the ids of up to limit orders whose release is
	// owed, longest owed first.
	ReleasePending(ctx context.Context, limit int) ([]string, error)
}

// IdempotencyKey is a client's key and the hash of the request it came
// with.
type IdempotencyKey struct {
	Key         string
	RequestHash []byte // SHA-256; nil when Key is empty
}

// Transition is a status change.
type Transition struct {
	To Status
	// ReleasePending sets the flag that a ReleaseStock is owed.
	ReleasePending bool
	// DropIdempotencyKey forgets the order's idempotency key, so that the
	// client may retry with it.
	DropIdempotencyKey bool
	// Rejection is stored with a rejected order.
	Rejection []errs.FieldError
}

// Filter is a validated ListQuery as the Repository sees it.
type Filter struct {
	UserID string    // only this user's orders; empty for everyone's
	Before *Position // keyset: only orders strictly after this one in list order
	Limit  int       // maximum number of orders to return, > 0
}

// Position is an order's place in list order (created_at desc, id desc).
type Position struct {
	CreatedAt time.Time
	ID        string
}

// ErrDuplicateKey is the cause of the Conflict CreatePending returns when
// the caller has already used the idempotency key.
var ErrDuplicateKey = errors.New("idempotency key already used")

// Errors the domain returns.
var (
	errNotFound     = errs.New(errs.NotFound, "order not found")
	errKeyReused    = errs.New(errs.Conflict, "Idempotency-Key was already used with a different request")
	errUnauthorized = errs.New(errs.Unauthenticated, "authentication required")
)

// Middleware decorates a Service with a cross-cutting concern.
type Middleware func(Service) Service

// Option configures NewService.
type Option func(*service)

// WithReleaseTimeout bounds the best-effort ReleaseStock a failed create or
// a cancel makes before it answers (default 2s). The recovery loop retries
// what does not finish in time.
func WithReleaseTimeout(d time.Duration) Option {
	return func(s *service) { s.releaseTimeout = d }
}

// NewService returns the order service storing in repo and reserving stock
// in catalog.
func NewService(repo Repository, catalog Catalog, opts ...Option) Service {
	s := &service{saga: saga{repo: repo, catalog: catalog}, releaseTimeout: 2 * time.Second}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

type service struct {
	saga
	releaseTimeout time.Duration
}

func (s *service) Create(ctx context.Context, no NewOrder) (Created, error) {
	caller, ok := auth.FromContext(ctx)
	if !ok || caller.UserID == "" {
		return Created{}, errUnauthorized
	}
	lines, err := ValidateNew(no)
	if err != nil {
		return Created{}, err
	}
	key := IdempotencyKey{Key: no.IdempotencyKey}
	if key.Key != "" {
		key.RequestHash = RequestHash(lines)
		// A repeated request is answered from the database alone: a client
		// retrying after a lost response gets it even while the catalog is
		// down.
		if c, found, err := s.replay(ctx, caller.UserID, key); found || err != nil {
			return c, err
		}
	}

	// Step 1: price the lines. Nothing is written yet.
	o, err := s.price(ctx, caller.UserID, lines)
	if err != nil {
		return Created{}, err
	}

	// Step 2: the pending order.
	o, err = s.repo.CreatePending(ctx, o, key)
	if err != nil {
		if errs.Is(err, errs.Conflict) && key.Key != "" {
			// A concurrent request with the same key won the insert.
			if c, found, rerr := s.replay(ctx, caller.UserID, key); found || rerr != nil {
				return c, rerr
			}
		}
		return Created{}, err
	}

	// Steps 3 and 4.
	cur, releaseOwed, err := s.reserve(ctx, o, false)
	if releaseOwed {
		s.releaseNow(ctx, o.ID)
	}
	if err != nil {
		return Created{}, err
	}
	return Created{Order: cur}, nil
}

// replay answers a request whose idempotency key the caller has used:
// found is false when the key is unused (or was given up by a failed
// attempt).
func (s *service) replay(ctx context.Context, userID string, key IdempotencyKey) (Created, bool, error) {
	o, hash, err := s.repo.ByIdempotencyKey(ctx, userID, key.Key)
	switch {
	case errs.Is(err, errs.NotFound):
		return Created{}, false, nil
	case err != nil:
		return Created{}, true, err
	case !bytes.Equal(hash, key.RequestHash):
		return Created{}, true, errKeyReused
	}
	switch o.Status {
	case StatusPending:
		return Created{}, true, &errs.Error{
			Kind:       errs.Conflict,
			Message:    "a request with this Idempotency-Key is still being processed; retry shortly",
			RetryAfter: time.Second,
		}
	case StatusRejected:
		fields, err := s.repo.Rejection(ctx, o.ID)
		if err != nil {
			return Created{}, true, err
		}
		return Created{}, true, rejected(fields)
	}
	return Created{Order: o, Replayed: true}, true, nil
}

// price builds the pending order from the catalog's view of the products.
func (s *service) price(ctx context.Context, userID string, lines []LineRequest) (Order, error) {
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ProductID
	}
	products, err := s.catalog.Products(ctx, ids)
	if err != nil {
		if errs.KindOf(err).Business() {
			// Our own request was refused (a bad service token, say):
			// nothing the client can fix.
			return Order{}, errs.Wrap(err, errs.Unavailable, "catalog unavailable")
		}
		return Order{}, err
	}
	byID := make(map[string]CatalogProduct, len(products))
	for _, p := range products {
		byID[p.ID] = p
	}
	var (
		v        validator
		currency string
	)
	o := Order{ID: uuid.NewString(), UserID: userID, Status: StatusPending, Items: make([]Item, 0, len(lines))}
	for i, l := range lines {
		p, ok := byID[l.ProductID]
		if !ok {
			v.Add(fmt.Sprintf("items[%d].product_id", i), "no such product")
			continue
		}
		switch {
		case currency == "":
			currency = p.Currency
		case p.Currency != currency:
			v.Add(fmt.Sprintf("items[%d].product_id", i), "is priced in "+p.Currency+", other items in "+currency+"; order them separately")
			continue
		}
		line := Item{
			ProductID:      p.ID,
			SKU:            p.SKU,
			Name:           p.Name,
			UnitPriceMinor: p.PriceMinor,
			Quantity:       l.Quantity,
			LineTotalMinor: p.PriceMinor * l.Quantity, // <= 1e10 * 1e3: no overflow
		}
		o.Items = append(o.Items, line)
		o.TotalMinor += line.LineTotalMinor
	}
	if err := v.Err(); err != nil {
		return Order{}, err
	}
	o.Currency = currency
	return o, nil
}

// releaseNow makes the ReleaseStock a failed create or a cancel owes, with a
// deadline of its own that outlives the client's request: a client that
// hangs up must not leave the stock reserved. What fails here the recovery
// loop retries.
func (s *service) releaseNow(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.releaseTimeout)
	defer cancel()
	_ = s.release(ctx, id) // best effort; release_pending stays set on failure
}

func (s *service) Get(ctx context.Context, id string) (Order, error) {
	id, err := authorizeID(ctx, id)
	if err != nil {
		return Order{}, err
	}
	o, err := s.repo.Get(ctx, id)
	if err != nil {
		return Order{}, err
	}
	return o, visible(ctx, o)
}

func (s *service) List(ctx context.Context, q ListQuery) (Page, error) {
	caller, ok := auth.FromContext(ctx)
	if !ok || caller.UserID == "" {
		return Page{}, errUnauthorized
	}
	f, err := validateListQuery(q)
	if err != nil {
		return Page{}, err
	}
	if q.All {
		if err := auth.RequireRole(ctx, auth.RoleAdmin); err != nil {
			return Page{}, err
		}
	} else {
		f.UserID = caller.UserID
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	orders, err := s.repo.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	page := Page{Orders: orders}
	if len(orders) > limit {
		page.Orders = orders[:limit]
		last := page.Orders[limit-1]
		page.NextPageToken = encodePageToken(Position{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	if page.Orders == nil {
		page.Orders = []Order{} // an empty list, not null, on the wire
	}
	return page, nil
}

func (s *service) Cancel(ctx context.Context, id string) (Order, error) {
	id, err := authorizeID(ctx, id)
	if err != nil {
		return Order{}, err
	}
	o, err := s.repo.Get(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if err := visible(ctx, o); err != nil {
		return Order{}, err
	}
	o, ok, err := s.repo.Transition(ctx, id, []Status{StatusPending, StatusConfirmed},
		Transition{To: StatusCancelled, ReleasePending: true})
	if err != nil {
		return Order{}, err
	}
	if !ok {
		return Order{}, errs.Errorf(errs.Conflict, "a %s order cannot be cancelled", o.Status)
	}
	s.releaseNow(ctx, id)
	return o, nil
}

// authorizeID checks that there is a caller and parses id.
func authorizeID(ctx context.Context, id string) (string, error) {
	if caller, ok := auth.FromContext(ctx); !ok || caller.UserID == "" {
		// No caller at all: log in first, whatever the id.
		return "", errUnauthorized
	}
	return ParseID(id)
}

// visible returns NotFound unless the caller owns o or is an admin: nobody
// learns which ids other users' orders have.
func visible(ctx context.Context, o Order) error {
	if err := auth.RequireOwnerOrAdmin(ctx, o.UserID); err != nil {
		if errs.Is(err, errs.Forbidden) {
			return errNotFound
		}
		return err
	}
	return nil
}

// saga holds the steps the request path and the recovery loop share.
type saga struct {
	repo    Repository
	catalog Catalog
}

// reserve reserves o's stock and records the outcome: confirmed, rejected
// (the catalog's refusal is returned, as a Conflict) or failed with a
// release owed (the catalog's error is returned, as an Unavailable, and
// releaseOwed is true: the caller should release now if it can). When
// another actor moved the order first (the recovery loop confirmed it, its
// owner cancelled it), the order as it now is is returned. When the
// outcome cannot be recorded (the database failed), the order stays pending
// for the recovery loop and the database's error is returned.
//
// With leavePending (the recovery loop), a catalog failure changes nothing:
// the order stays pending for the next round.
func (s *saga) reserve(ctx context.Context, o Order, leavePending bool) (cur Order, releaseOwed bool, err error) {
	stock := StockItems(o.Items)
	rerr := s.catalog.Reserve(ctx, o.ID, stock)
	switch {
	case rerr == nil:
		cur, _, err := s.repo.Transition(ctx, o.ID, []Status{StatusPending}, Transition{To: StatusConfirmed})
		return cur, false, err

	case isRejection(rerr):
		rej := rejectionOf(rerr, stock, o.Items)
		cur, ok, err := s.repo.Transition(ctx, o.ID, []Status{StatusPending},
			Transition{To: StatusRejected, Rejection: errs.FieldsOf(rej)})
		switch {
		case err != nil:
			return Order{}, false, err
		case !ok:
			return cur, false, nil
		}
		return Order{}, false, rej

	case leavePending:
		return Order{}, false, rerr

	default:
		// The catalog failed: the reservation may or may not have been
		// made, so a release is owed. The key is given up so that the
		// client's retry starts afresh.
		cur, ok, err := s.repo.Transition(ctx, o.ID, []Status{StatusPending},
			Transition{To: StatusFailed, ReleasePending: true, DropIdempotencyKey: true})
		switch {
		case err != nil:
			return Order{}, false, err
		case !ok:
			return cur, false, nil
		}
		if errs.Is(rerr, errs.Unavailable) {
			return Order{}, true, rerr
		}
		return Order{}, true, errs.Wrap(rerr, errs.Unavailable, "catalog unavailable")
	}
}

// release gives an order's stock back and clears the flag that said it was
// owed.
func (s *saga) release(ctx context.Context, id string) error {
	if err := s.catalog.Release(ctx, id); err != nil {
		return err
	}
	return s.repo.ClearReleasePending(ctx, id)
}

// isRejection reports whether the catalog refused a reservation for a
// reason of the order's own (short stock, a product gone): nothing was
// reserved and retrying will not help. Other business errors (our service
// token refused, say) are failures of ours.
func isRejection(err error) bool {
	switch errs.KindOf(err) {
	case errs.Conflict, errs.NotFound, errs.Invalid:
		return true
	}
	return false
}

// rejectionOf turns the catalog's refusal into the client's Conflict error.
// The catalog names items by their index in the reservation (sorted by
// product id); the client knows them by their line in the order, so
// "items[i]" is renumbered.
func rejectionOf(err error, reserved []StockItem, lines []Item) error {
	line := make(map[string]int, len(lines))
	for i, it := range lines {
		line[it.ProductID] = i
	}
	var fields []errs.FieldError
	for _, f := range errs.FieldsOf(err) {
		var (
			i    int
			rest string
		)
		if n, _ := fmt.Sscanf(f.Field, "items[%d]%s", &i, &rest); n >= 1 && i >= 0 && i < len(reserved) {
			f.Field = fmt.Sprintf("items[%d]%s", line[reserved[i].ProductID], rest)
		}
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		fields = []errs.FieldError{{Field: "items", Message: errs.Message(err)}}
	}
	return rejected(fields)
}

// rejected is the error of a rejected order.
func rejected(fields []errs.FieldError) error {
	return &errs.Error{Kind: errs.Conflict, Message: "insufficient stock", Fields: fields}
}

// StockItems returns the reservation request for items, sorted by product
// id.
func StockItems(items []Item) []StockItem {
	out := make([]StockItem, len(items))
	for i, it := range items {
		out[i] = StockItem{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	slices.SortFunc(out, func(a, b StockItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return out
}

// ParseID returns id in canonical form (lower-case, hyphenated) or an
// Invalid error. Only the canonical 36-character form is accepted.
func ParseID(id string) (string, error) { return validate.ID(id, "malformed order id") }

// ValidateNew checks o and returns its lines merged: one line per product,
// in the position of the product's first line, quantities added. Product
// ids are returned in canonical form. Errors name the fields as the client
// sent them (items[i].quantity).
func ValidateNew(o NewOrder) ([]LineRequest, error) {
	var v validator
	switch {
	case len(o.Items) == 0:
		v.Add("items", "must list at least one product")
	case len(o.Items) > MaxLines:
		v.Add("items", "must list at most 50 lines")
	}
	if o.IdempotencyKey != "" && !ValidIdempotencyKey(o.IdempotencyKey) {
		v.Add("idempotency_key", "must be 1 to 255 printable ASCII characters")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var (
		merged []LineRequest
		index  = map[string]int{} // product id -> position in merged
	)
	for i, l := range o.Items {
		id, err := uuid.Parse(l.ProductID)
		if err != nil || len(l.ProductID) != 36 {
			v.Add(fmt.Sprintf("items[%d].product_id", i), "must be a UUID")
			continue
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			v.Add(fmt.Sprintf("items[%d].quantity", i), "must be between 1 and 1000")
			continue
		}
		pid := id.String()
		if j, dup := index[pid]; dup {
			merged[j].Quantity += l.Quantity
			if merged[j].Quantity > MaxQuantity {
				v.Add(fmt.Sprintf("items[%d].quantity", i), "adds up to more than 1000 for this product")
			}
			continue
		}
		index[pid] = len(merged)
		merged = append(merged, LineRequest{ProductID: pid, Quantity: l.Quantity})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return merged, nil
}

// ValidIdempotencyKey reports whether key is 1 to MaxIdempotencyKey
// printable ASCII characters (space to tilde).
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// RequestHash returns the SHA-256 a request's idempotency key is stored
// with: of the merged lines, so that the same order sent again, however its
// lines are spelt or split, matches.
func RequestHash(lines []LineRequest) []byte {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l.ProductID))
		var q [8]byte
		binary.BigEndian.PutUint64(q[:], uint64(l.Quantity))
		h.Write(q[:])
	}
	return h.Sum(nil)
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
		pos, ok := decodePageToken(q.PageToken)
		if !ok {
			v.Add("page_token", "is not a token returned by this API")
		} else {
			f.Before = &pos
		}
	}
	return f, v.Err()
}

// validator collects field errors so that one response lists them all,
// with the service's own rules as methods.
type validator struct{ validate.Fields }

// Page tokens carry the position of a page's last order (kit/paging).
// Times are in microseconds, Postgres's precision.
func encodePageToken(p Position) string {
	return paging.Encode(strconv.FormatInt(p.CreatedAt.UnixMicro(), 10), p.ID)
}

func decodePageToken(token string) (Position, bool) {
	fields, ok := paging.Decode(token, 2)
	if !ok {
		return Position{}, false
	}
	us, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return Position{}, false
	}
	id, ok := validate.ParseUUID(fields[1])
	if !ok {
		return Position{}, false
	}
	return Position{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, true
}
