package order

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

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

	// Cancel cancels a pending, confirmed or paid order and gives its
	// stock back (at once when the catalog answers, otherwise by the
	// recovery loop; the order is cancelled either way); the payment
	// service refunds a paid one when it sees the order.cancelled event.
	// Get's rules on who may; Conflict for an order in any other status.
	Cancel(ctx context.Context, id string) (Order, error)
}

// Repository stores orders. It receives validated input and reports
// failures as *errs.Error: NotFound for a missing order, Unavailable or
// Internal for database failures. Status changes are conditional: they
// happen only from the given statuses, atomically, and report whether they
// did.
type Repository interface {
	// CreatePending inserts o (status pending, id set) with its items,
	// its order.placed event and, if key.Key is set, its idempotency key,
	// in one transaction. If the
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
	// either way. NotFound if there is no such order. The event the change
	// makes (EventFor) is written to the outbox in the same transaction,
	// and with t.Inbox the consumed event's id is recorded in the inbox
	// there too: if it is already there, nothing changes (ok is false).
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
	// CancelReason is stored with a cancelled order.
	CancelReason string
	// Inbox is the id of the consumed event that causes the change
	// (kit/subscriber.Once), if any.
	Inbox string
	// Payment is the payment a paid or declined order's event reports.
	Payment PaymentOutcome
}

// PaymentOutcome is what the payment service reported about an order.
type PaymentOutcome struct {
	ID          string
	DeclineCode string
	Message     string
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
		key.RequestHash = RequestHash(lines, no.PaymentMethod)
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
	o.PaymentMethod = cmp.Or(no.PaymentMethod, DefaultPaymentMethod)

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
	o, ok, err := s.repo.Transition(ctx, id, []Status{StatusPending, StatusConfirmed, StatusPaid},
		Transition{To: StatusCancelled, ReleasePending: true, CancelReason: CancelledByCustomer})
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
