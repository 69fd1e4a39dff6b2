package payment

import (
	"context"
	"errors"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/validate"
)

// Status is where a payment is in its life.
type Status string

// The statuses. Pending is transient: the handler of order.confirmed that
// inserted it moves it on, or a redelivery of that event does.
const (
	StatusPending   Status = "pending"   // the charge is being made
	StatusSucceeded Status = "succeeded" // charged
	StatusFailed    Status = "failed"    // declined; nothing charged
	StatusRefunded  Status = "refunded"  // charged, then refunded in full
	StatusVoided    Status = "voided"    // cancelled before any charge; never charged
)

// Limits of the stored fields; the schema repeats them (migrations/payment).
const (
	MaxMethodLen      = 255
	MaxDeclineCodeLen = 100
	MaxMessageLen     = 500
)

// Payment is the payment of one order. Amounts are integers in the
// currency's minor unit.
type Payment struct {
	ID      string `json:"id"`
	OrderID string `json:"order_id"`
	// UserID is the order's owner, who may read the payment.
	UserID      string    `json:"-"`
	Status      Status    `json:"status"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	Method      string    `json:"method"`
	DeclineCode string    `json:"decline_code"`
	Message     string    `json:"message"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Order is what the service needs of an order, as its events report it.
type Order struct {
	ID, UserID    string
	TotalMinor    int64
	Currency      string
	PaymentMethod string
}

// OrderEvent is an order event: its id, which the inbox records, and the
// order it reports.
type OrderEvent struct {
	EventID string
	Order   Order
}

// Effect is what handling an order event did.
type Effect string

// The effects.
const (
	// EffectNone: nothing changed. The event was handled before, or the
	// payment's status asks for nothing (an order.confirmed for a payment
	// already made or voided, an order.cancelled for a declined one).
	EffectNone     Effect = "none"
	EffectCharged  Effect = "charged"
	EffectDeclined Effect = "declined"
	EffectRefunded Effect = "refunded"
	EffectVoided   Effect = "voided"
)

// Result is the outcome of handling an order event.
type Result struct {
	// Payment is the order's payment as the handler last saw it.
	Payment Payment
	Effect  Effect
}

// Service keeps the payments of orders.
//
// Every method returns *errs.Error values. The two event handlers are
// called at least once per event (kit/subscriber); each has its effect
// exactly once per order, however often and however concurrently it is
// called. They return an error of a non-business kind (Unavailable,
// Internal) for everything a retry may cure, so that the event is
// redelivered, and Invalid for an event that can never be handled.
type Service interface {
	// List returns the payments of the order orderID, oldest first, to its
	// owner and to admins. Unauthenticated without a caller on ctx; Invalid
	// (field order_id) for an id that is not a UUID; NotFound for an order
	// without a payment and for another user's order.
	List(ctx context.Context, orderID string) ([]Payment, error)

	// OrderConfirmed charges the order: it inserts a pending payment (or
	// finds the order's payment), charges it at the provider with the
	// payment's id as idempotency key, and then, in one transaction,
	// records the event in the inbox, settles the payment succeeded or
	// failed and adds payment.succeeded or payment.failed to the outbox. A
	// payment that is not pending (already settled, or voided by an
	// earlier order.cancelled) is left alone. Unavailable when the provider
	// cannot be reached: the payment stays pending, and a redelivery
	// charges with the same key.
	OrderConfirmed(ctx context.Context, e OrderEvent) (Result, error)

	// OrderCancelled refunds the order's payment if it succeeded (with
	// payment.refunded), voids the order if it has no payment yet, so that
	// a late order.confirmed never charges, and leaves a declined, refunded
	// or voided payment alone. A pending payment is a charge in flight,
	// perhaps on another instance: Unavailable (ErrChargeInFlight), so the
	// event comes back once the charge is settled.
	OrderCancelled(ctx context.Context, e OrderEvent) (Result, error)
}

// Repository stores payments, with the inbox and the outbox of the
// service. It reports failures as *errs.Error (NotFound for a missing
// payment, Unavailable or Internal for database failures), and ErrHandled
// for an event the inbox has recorded already.
type Repository interface {
	// ByOrder returns the payment of the order orderID.
	ByOrder(ctx context.Context, orderID string) (Payment, error)
	// CreatePending inserts p, pending, unless the order has a payment;
	// it returns the order's payment either way.
	CreatePending(ctx context.Context, p Payment) (Payment, error)
	// Void inserts p, voided, and records eventID in the inbox, in one
	// transaction; created is true. If the order has a payment already, it
	// records nothing and returns that payment, with created false.
	Void(ctx context.Context, eventID string, p Payment) (_ Payment, created bool, err error)
	// Transition records eventID in the inbox, moves the payment id from
	// status from to t, and adds ev to the outbox, in one transaction; ev
	// only if the payment moved, which moved reports. It returns the
	// payment as it is afterwards, also with ErrHandled.
	Transition(ctx context.Context, eventID, id string, from Status, t Transition, ev outbox.Event) (_ Payment, moved bool, err error)
	// MarkHandled records eventID in the inbox (ErrHandled if it was).
	MarkHandled(ctx context.Context, eventID string) error
}

// Transition is a change of a payment's status.
type Transition struct {
	To Status
	// DeclineCode and Message are set when To is StatusFailed.
	DeclineCode, Message string
}

// Consumer is the service's name in its inbox and its durable consumer's
// name.
const Consumer = "payment"

// ErrHandled is the Repository's answer for an event the inbox has
// recorded: its effect is made, and it must not be made again.
var ErrHandled = errors.New("payment: event already handled")

// ErrChargeInFlight is the cause of the Unavailable error OrderCancelled
// returns for an order whose charge is being made.
var ErrChargeInFlight = errors.New("payment: the order's charge is in flight")

// Errors the service returns.
var (
	errNotFound        = errs.New(errs.NotFound, "no payment for this order")
	errUnauthenticated = errs.New(errs.Unauthenticated, "authentication required")
	errChargeInFlight  = errs.Wrap(ErrChargeInFlight, errs.Unavailable, "the order's charge is in flight; retry")
)

// Middleware decorates a Service with a cross-cutting concern.
type Middleware func(Service) Service

// NewService returns the payment service storing in repo and charging
// through provider.
func NewService(repo Repository, provider Provider) Service {
	return &service{repo: repo, provider: provider}
}

type service struct {
	repo     Repository
	provider Provider
}

func (s *service) List(ctx context.Context, orderID string) ([]Payment, error) {
	if caller, ok := auth.FromContext(ctx); !ok || caller.UserID == "" {
		return nil, errUnauthenticated // log in first, whatever the id
	}
	id, err := ParseOrderID(orderID)
	if err != nil {
		return nil, err
	}
	p, err := s.repo.ByOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	// Another user's payment is not found: nobody learns which orders
	// exist.
	if err := auth.RequireOwnerOrAdmin(ctx, p.UserID); err != nil {
		if errs.Is(err, errs.Forbidden) {
			return nil, errNotFound
		}
		return nil, err
	}
	return []Payment{p}, nil
}

func (s *service) OrderConfirmed(ctx context.Context, e OrderEvent) (Result, error) {
	e, err := ValidateOrderEvent(e)
	if err != nil {
		return Result{}, err
	}
	p, err := s.repo.CreatePending(ctx, newPayment(e.Order, StatusPending))
	if err != nil {
		return Result{}, err
	}
	if p.Status != StatusPending {
		return s.markHandled(ctx, e.EventID, p)
	}
	// Outside any transaction: the call may take seconds. A crash from
	// here to the transition leaves the payment pending and the event
	// unacknowledged; its redelivery charges again with the same key,
	// which the provider answers without charging twice.
	res, err := s.provider.Charge(ctx, ChargeRequest{
		IdempotencyKey: p.ID, AmountMinor: p.AmountMinor, Currency: p.Currency, Method: p.Method,
	})
	if err != nil {
		return Result{Payment: p}, providerError(err, "charge")
	}
	if res.Succeeded {
		return s.transition(ctx, e.EventID, p, StatusPending, Transition{To: StatusSucceeded}, EffectCharged)
	}
	code := res.DeclineCode
	if code == "" {
		code = "declined"
	}
	t := Transition{To: StatusFailed, DeclineCode: truncate(code, MaxDeclineCodeLen), Message: truncate(res.Message, MaxMessageLen)}
	return s.transition(ctx, e.EventID, p, StatusPending, t, EffectDeclined)
}

func (s *service) OrderCancelled(ctx context.Context, e OrderEvent) (Result, error) {
	e, err := ValidateOrderEvent(e)
	if err != nil {
		return Result{}, err
	}
	p, err := s.repo.ByOrder(ctx, e.Order.ID)
	if errs.Is(err, errs.NotFound) {
		var created bool
		p, created, err = s.repo.Void(ctx, e.EventID, newPayment(e.Order, StatusVoided))
		switch {
		case errors.Is(err, ErrHandled):
			return Result{Effect: EffectNone}, nil
		case err != nil:
			return Result{}, err
		case created:
			return Result{Payment: p, Effect: EffectVoided}, nil
		}
		// An order.confirmed inserted its payment meanwhile: go on with it.
	} else if err != nil {
		return Result{}, err
	}
	switch p.Status {
	case StatusPending:
		return Result{Payment: p}, errChargeInFlight
	case StatusSucceeded:
		// Outside any transaction, idempotent by key, as the charge.
		if err := s.provider.Refund(ctx, RefundRequest{
			IdempotencyKey: RefundKey(p.ID), ChargeKey: p.ID, AmountMinor: p.AmountMinor, Currency: p.Currency,
		}); err != nil {
			return Result{Payment: p}, providerError(err, "refund")
		}
		return s.transition(ctx, e.EventID, p, StatusSucceeded, Transition{To: StatusRefunded}, EffectRefunded)
	}
	return s.markHandled(ctx, e.EventID, p)
}

// transition settles p and publishes the event of its new status.
func (s *service) transition(ctx context.Context, eventID string, p Payment, from Status, t Transition, effect Effect) (Result, error) {
	ev, err := paymentEvent(ctx, p, t)
	if err != nil {
		return Result{Payment: p}, errs.Wrap(err, errs.Internal, "")
	}
	cur, moved, err := s.repo.Transition(ctx, eventID, p.ID, from, t, ev)
	switch {
	case errors.Is(err, ErrHandled):
		return Result{Payment: cur, Effect: EffectNone}, nil
	case err != nil:
		return Result{Payment: p}, err
	case !moved:
		// Another event settled it first (a second order.confirmed of the
		// same order under another id, say): its effect stands.
		return Result{Payment: cur, Effect: EffectNone}, nil
	}
	return Result{Payment: cur, Effect: effect}, nil
}

// markHandled records an event that asks for nothing.
func (s *service) markHandled(ctx context.Context, eventID string, p Payment) (Result, error) {
	if err := s.repo.MarkHandled(ctx, eventID); err != nil && !errors.Is(err, ErrHandled) {
		return Result{Payment: p}, err
	}
	return Result{Payment: p, Effect: EffectNone}, nil
}

// newPayment is the payment of o, with a new id.
func newPayment(o Order, status Status) Payment {
	return Payment{
		ID: uuid.NewString(), OrderID: o.ID, UserID: o.UserID, Status: status,
		AmountMinor: o.TotalMinor, Currency: o.Currency, Method: o.PaymentMethod,
	}
}

// providerError classifies a failed provider call: its outcome is unknown,
// so the event must come back (a non-business kind), and a retry with the
// same key may succeed. A reused key is a bug: Internal, dead-lettered
// after the subscriber's last attempt.
func providerError(err error, op string) error {
	if errors.Is(err, ErrKeyReused) {
		return errs.Wrap(err, errs.Internal, "")
	}
	return errs.Wrap(err, errs.Unavailable, "payment provider unavailable ("+op+")")
}

// ParseOrderID returns id in canonical form, or an Invalid error naming
// the field order_id.
func ParseOrderID(id string) (string, error) {
	var v validate.Fields
	switch {
	case id == "":
		v.Add("order_id", "is required")
	default:
		id = v.UUID("order_id", id)
	}
	return id, v.Err()
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// ValidateOrderEvent checks what the service stores of an order event, and
// returns it with its ids in canonical form: an event id, UUIDs for the
// order and its owner, an amount >= 0, an ISO 4217 currency code and a
// payment method of at most MaxMethodLen characters. An event that breaks
// them can never be handled: Invalid.
func ValidateOrderEvent(e OrderEvent) (OrderEvent, error) {
	var v validate.Fields
	if e.EventID == "" {
		v.Add("event_id", "is required")
	}
	e.Order.ID = v.UUID("order.id", e.Order.ID)
	e.Order.UserID = v.UUID("order.user_id", e.Order.UserID)
	if e.Order.TotalMinor < 0 {
		v.Add("order.total_minor", "must not be negative")
	}
	if !currencyPattern.MatchString(e.Order.Currency) {
		v.Add("order.currency", "must be an ISO 4217 code")
	}
	v.Text("order.payment_method", e.Order.PaymentMethod, MaxMethodLen)
	return e, v.Err()
}

// truncate cuts s to at most n characters: a provider's text must fit the
// schema.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
