package notification

import (
	"context"
	"strconv"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/paging"
	"github.com/kitshop/kitshop/kit/validate"
)

// Page sizes of List.
const (
	DefaultPageSize = paging.DefaultLimit
	MaxPageSize     = paging.MaxLimit
)

// Kind says what a notification is about; each kind has one template.
type Kind string

// The kinds, one per event the service consumes.
const (
	KindWelcome            Kind = "welcome"              // kitshop.user.v1.registered
	KindOrderConfirmed     Kind = "order_confirmed"      // kitshop.order.v1.confirmed
	KindOrderRejected      Kind = "order_rejected"       // kitshop.order.v1.rejected
	KindOrderCancelled     Kind = "order_cancelled"      // kitshop.order.v1.cancelled
	KindOrderPaid          Kind = "order_paid"           // kitshop.order.v1.paid
	KindOrderPaymentFailed Kind = "order_payment_failed" // kitshop.order.v1.payment_failed
	KindPaymentRefunded    Kind = "payment_refunded"     // kitshop.payment.v1.refunded
)

// Kinds are all the kinds, in the order of the constants.
var Kinds = []Kind{KindWelcome, KindOrderConfirmed, KindOrderRejected, KindOrderCancelled,
	KindOrderPaid, KindOrderPaymentFailed, KindPaymentRefunded}

// Notification is one notification of one user.
type Notification struct {
	ID      string
	UserID  string
	EventID string // the event it was made from
	Kind    Kind
	Title   string
	Body    string
	OrderID string    // the order it is about; "" when none
	ReadAt  time.Time // zero while unread
	// CreatedAt is when the notification was made (not when the event
	// happened): the list is newest first by it.
	CreatedAt time.Time
}

// Read reports whether the notification was marked read.
func (n Notification) Read() bool { return !n.ReadAt.IsZero() }

// ListQuery selects one page of the caller's notifications.
type ListQuery struct {
	// Limit is the page size, 1..MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty.
	PageToken string
	// UnreadOnly lists only the notifications not yet read.
	UnreadOnly bool
}

// Page is one page of notifications, newest first.
type Page struct {
	Notifications []Notification
	// UnreadCount is how many of the caller's notifications are unread,
	// on every page (the badge a client shows).
	UnreadCount int64
	// NextPageToken fetches the following page; empty on the last page.
	NextPageToken string
}

// Service is what users do with their notifications. The caller is the
// identity on the context (kit/auth), and every method works on the
// caller's own notifications only, whatever the caller's roles.
//
// Every method returns *errs.Error values: Unauthenticated without a
// caller, Forbidden for a caller that is not a user (a service account),
// Invalid (with one errs.FieldError per bad field) for bad input, NotFound
// for a notification the caller does not have, and Unavailable or Internal
// when the database fails.
type Service interface {
	// List returns one page of the caller's notifications, newest first,
	// and their unread count. Invalid for a bad limit or page token.
	List(ctx context.Context, q ListQuery) (Page, error)

	// MarkRead marks the caller's notification id read and returns it;
	// one already read keeps its first ReadAt. Invalid if id is not a
	// UUID, NotFound if the caller has no such notification.
	MarkRead(ctx context.Context, id string) (Notification, error)

	// MarkAllRead marks every unread notification of the caller read and
	// returns how many it marked.
	MarkAllRead(ctx context.Context) (int64, error)
}

// Position is where a page ends in the list order.
type Position struct {
	CreatedAt time.Time
	ID        string
}

// Filter is a validated ListQuery as the Repository sees it.
type Filter struct {
	UserID     string
	UnreadOnly bool
	Before     *Position // keyset: only notifications after it in the list order
	Limit      int       // > 0
}

// Repository stores notifications. It receives validated input and reports
// failures as *errs.Error: NotFound for a missing notification, Unavailable
// or Internal for database failures.
type Repository interface {
	// List returns up to f.Limit notifications of f.UserID, newest first.
	List(ctx context.Context, f Filter) ([]Notification, error)
	// UnreadCount returns how many notifications of userID are unread.
	UnreadCount(ctx context.Context, userID string) (int64, error)
	// MarkRead sets ReadAt of userID's notification id unless it is set,
	// and returns the notification; NotFound when userID has no such one.
	MarkRead(ctx context.Context, userID, id string) (Notification, error)
	// MarkAllRead sets ReadAt of every unread notification of userID and
	// returns how many.
	MarkAllRead(ctx context.Context, userID string) (int64, error)
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

var (
	errNotFound = errs.New(errs.NotFound, "notification not found")
	// Only user accounts have notifications; their ids are UUIDs.
	errNotAUser = errs.New(errs.Forbidden, "only user accounts have notifications")
)

// caller returns the user id of the caller on ctx.
func caller(ctx context.Context) (string, error) {
	id, ok := auth.FromContext(ctx)
	if !ok || id.UserID == "" {
		return "", errs.New(errs.Unauthenticated, "authentication required")
	}
	userID, ok := validate.ParseUUID(id.UserID)
	if !ok {
		return "", errNotAUser
	}
	return userID, nil
}

func (s *service) List(ctx context.Context, q ListQuery) (Page, error) {
	userID, err := caller(ctx)
	if err != nil {
		return Page{}, err
	}
	f, err := validateListQuery(q)
	if err != nil {
		return Page{}, err
	}
	f.UserID = userID
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	list, err := s.repo.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	page := Page{Notifications: list}
	if len(list) > limit {
		page.Notifications = list[:limit]
		last := page.Notifications[limit-1]
		page.NextPageToken = encodePageToken(Position{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	if page.Notifications == nil {
		page.Notifications = []Notification{} // an empty list, not null, on the wire
	}
	if page.UnreadCount, err = s.repo.UnreadCount(ctx, userID); err != nil {
		return Page{}, err
	}
	return page, nil
}

func (s *service) MarkRead(ctx context.Context, id string) (Notification, error) {
	userID, err := caller(ctx)
	if err != nil {
		return Notification{}, err
	}
	if id, err = ParseID(id); err != nil {
		return Notification{}, err
	}
	return s.repo.MarkRead(ctx, userID, id)
}

func (s *service) MarkAllRead(ctx context.Context) (int64, error) {
	userID, err := caller(ctx)
	if err != nil {
		return 0, err
	}
	return s.repo.MarkAllRead(ctx, userID)
}

// ParseID returns id in canonical form or an Invalid error naming "id": a
// malformed id is the client's mistake (400), not a missing notification.
func ParseID(id string) (string, error) { return validate.ID(id, "malformed notification id") }

func validateListQuery(q ListQuery) (Filter, error) {
	var v validate.Fields
	f := Filter{Limit: q.Limit, UnreadOnly: q.UnreadOnly}
	if limit, ok := paging.DefaultSizes.Limit(q.Limit); ok {
		f.Limit = limit
	} else {
		v.Add("limit", paging.DefaultSizes.RangeMessage())
	}
	if q.PageToken != "" {
		if pos, ok := decodePageToken(q.PageToken); ok {
			f.Before = &pos
		} else {
			v.Add("page_token", "is not a token returned by this API")
		}
	}
	return f, v.Err()
}

// Page tokens carry the position of a page's last notification
// (kit/paging), its time in microseconds, Postgres's precision.
func encodePageToken(p Position) string {
	return paging.Encode(strconv.FormatInt(p.CreatedAt.UnixMicro(), 10), p.ID)
}

func decodePageToken(token string) (Position, bool) {
	fields, ok := paging.Decode(token, 2)
	if !ok {
		return Position{}, false
	}
	us, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || us < 0 {
		return Position{}, false
	}
	id, ok := validate.ParseUUID(fields[1])
	if !ok {
		return Position{}, false
	}
	return Position{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, true
}
