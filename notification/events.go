package notification

import (
	"context"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-kit/kit/endpoint"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/kit/endpointx"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/validate"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

// Consumer names the service's durable consumer on every stream it reads,
// and its rows in the inbox.
const Consumer = "notification"

// How the service consumes: a delivery's handling (one transaction) is
// bounded by EventTimeout, well under the consumers' AckWait (30 s); a
// failing event is retried MaxDeliver times, with kit/subscriber's backoff
// (1 s doubling to 1 min: about four minutes in all, to ride out a
// database restart), before it is dead-lettered.
const (
	EventTimeout = 10 * time.Second
	MaxDeliver   = 10
)

// Subscription is one stream the service reads and its durable consumer.
type Subscription struct {
	Stream   events.StreamConfig
	Consumer events.ConsumerConfig
}

// Subscriptions are the streams and the subjects the service consumes:
// exactly the subjects that have a rule (see rules), so every event
// delivered has one template.
func Subscriptions() []Subscription {
	return []Subscription{
		subscription(orderv1.Stream, orderv1.StreamSubjects, orderv1.SubjectConfirmed, orderv1.SubjectRejected,
			orderv1.SubjectCancelled, orderv1.SubjectPaid, orderv1.SubjectPaymentFailed),
		subscription(paymentv1.Stream, paymentv1.StreamSubjects, paymentv1.SubjectRefunded),
		subscription(userv1.Stream, userv1.StreamSubjects, userv1.SubjectRegistered),
	}
}

func subscription(stream, streamSubjects string, subjects ...string) Subscription {
	return Subscription{
		Stream:   events.StreamConfig{Name: stream, Subjects: []string{streamSubjects}},
		Consumer: events.ConsumerConfig{Durable: Consumer, Subjects: subjects},
	}
}

// Recipient is where a user's emails go, as the user service announced it.
type Recipient struct {
	UserID string
	Email  string // an addr-spec, "ada@example.com"
	Name   string // may be empty
}

// Effect is what one event does: a notification for a user, and for a user
// just registered, their address.
type Effect struct {
	// Notification is the notification to make, ID and times unset.
	Notification Notification
	// Recipient, when set, is stored (or updated) first.
	Recipient *Recipient
	// Email queues an email of the notification, if the user's address is
	// known by then.
	Email bool
}

// EventStore records the effects of events.
type EventStore interface {
	// Record makes e, once per e.Notification.EventID, in one
	// transaction: the event id goes into the inbox, then the recipient,
	// the notification and the email row. An event recorded before changes
	// nothing. It reports whether an email was queued.
	Record(ctx context.Context, e Effect) (emailQueued bool, err error)
}

// EventHandler turns events into notifications.
type EventHandler struct {
	store     EventStore
	templates *Templates
	email     bool
	queued    func()
}

// HandlerOption configures an EventHandler.
type HandlerOption func(*EventHandler)

// WithEmails makes the handler queue an email with each notification (for
// users whose address it knows), and call queued after the transaction
// that queued one committed: a Sender's Wake.
func WithEmails(queued func()) HandlerOption {
	return func(h *EventHandler) { h.email, h.queued = true, queued }
}

// NewEventHandler returns a handler that renders with templates and records
// in store.
func NewEventHandler(store EventStore, templates *Templates, opts ...HandlerOption) *EventHandler {
	h := &EventHandler{store: store, templates: templates}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// Handle makes the effect of m, once however often it comes. An event of a
// type the service does not handle, or whose data breaks its contract, is
// errs.Invalid, which kit/subscriber acknowledges and logs as rejected.
func (h *EventHandler) Handle(ctx context.Context, m events.Message) error {
	e, err := h.Effect(m)
	if err != nil {
		return err
	}
	queued, err := h.store.Record(ctx, e)
	if err != nil {
		return err
	}
	if queued && h.queued != nil {
		h.queued()
	}
	return nil
}

// Effect returns what m does, rendered, without doing it.
func (h *EventHandler) Effect(m events.Message) (Effect, error) {
	r, ok := rules[m.Type]
	if !ok {
		return Effect{}, errs.Errorf(errs.Invalid, "events of type %q are not for this service", m.Type)
	}
	eventID, ok := validate.ParseUUID(m.ID)
	if !ok {
		return Effect{}, errs.New(errs.Invalid, "event id is not a UUID")
	}
	var v validate.Fields
	ev, ok := r.read(m.Data, &v)
	if !ok {
		return Effect{}, errs.Errorf(errs.Invalid, "event of type %q carries a %T", m.Type, m.Data)
	}
	if err := v.Err(); err != nil {
		return Effect{}, &errs.Error{Kind: errs.Invalid, Message: "event " + m.Type + " breaks its contract", Fields: errs.FieldsOf(err)}
	}
	title, body, err := h.templates.Render(r.kind, ev.facts)
	if err != nil {
		return Effect{}, errs.Wrap(err, errs.Internal, "rendering notification")
	}
	return Effect{
		Notification: Notification{
			UserID: ev.userID, EventID: eventID, Kind: r.kind, Title: title, Body: body, OrderID: ev.facts.OrderID,
		},
		Recipient: ev.recipient,
		Email:     h.email,
	}, nil
}

// NewEventEndpoint returns the endpoint kit/subscriber runs on every event
// (an events.Message, decoded by events.Decode).
func NewEventEndpoint(h *EventHandler) endpoint.Endpoint {
	return endpointx.Typed(MethodHandleEvent, func(ctx context.Context, m events.Message) (struct{}, error) {
		return struct{}{}, h.Handle(ctx, m)
	})
}

// eventData is what a rule reads from an event.
type eventData struct {
	userID    string
	facts     Facts
	recipient *Recipient
}

// rule says what kind of notification an event type makes and how to read
// its data: read reports false for data of another message type, and
// records bad fields in v.
type rule struct {
	kind Kind
	read func(data proto.Message, v *validate.Fields) (eventData, bool)
}

// rules has one entry per subject the service consumes.
var rules = map[string]rule{
	userv1.SubjectRegistered: on(KindWelcome, readRegistered),
	orderv1.SubjectConfirmed: on(KindOrderConfirmed, func(e *orderv1.OrderConfirmed, v *validate.Fields) eventData {
		return readOrder(e.GetOrder(), v)
	}),
	orderv1.SubjectRejected: on(KindOrderRejected, func(e *orderv1.OrderRejected, v *validate.Fields) eventData {
		d := readOrder(e.GetOrder(), v)
		d.facts.Reason = eventText(e.GetReason())
		return d
	}),
	orderv1.SubjectCancelled: on(KindOrderCancelled, func(e *orderv1.OrderCancelled, v *validate.Fields) eventData {
		d := readOrder(e.GetOrder(), v)
		d.facts.Reason, d.facts.PreviousStatus = eventText(e.GetReason()), eventText(e.GetPreviousStatus())
		return d
	}),
	orderv1.SubjectPaid: on(KindOrderPaid, func(e *orderv1.OrderPaid, v *validate.Fields) eventData {
		return readOrder(e.GetOrder(), v)
	}),
	orderv1.SubjectPaymentFailed: on(KindOrderPaymentFailed, func(e *orderv1.OrderPaymentFailed, v *validate.Fields) eventData {
		d := readOrder(e.GetOrder(), v)
		if d.facts.Reason = eventText(e.GetMessage()); d.facts.Reason == "" {
			d.facts.Reason = eventText(e.GetDeclineCode())
		}
		return d
	}),
	paymentv1.SubjectRefunded: on(KindPaymentRefunded, func(e *paymentv1.PaymentRefunded, v *validate.Fields) eventData {
		return eventData{
			userID: v.UUID("user_id", e.GetUserId()),
			facts:  Facts{OrderID: v.UUID("order_id", e.GetOrderId()), Total: readMoney(v, "", e.GetAmountMinor(), e.GetCurrency())},
		}
	}),
}

// on makes the rule of events whose data is a T.
func on[T proto.Message](kind Kind, read func(T, *validate.Fields) eventData) rule {
	return rule{kind: kind, read: func(data proto.Message, v *validate.Fields) (eventData, bool) {
		e, ok := data.(T)
		if !ok {
			return eventData{}, false
		}
		return read(e, v), true
	}}
}

// readOrder reads what every order event says: whose order, which, and for
// how much.
func readOrder(o *orderv1.Order, v *validate.Fields) eventData {
	d := eventData{
		userID: v.UUID("order.user_id", o.GetUserId()),
		facts: Facts{
			OrderID: v.UUID("order.id", o.GetId()),
			Total:   readMoney(v, "order.", o.GetTotalMinor(), o.GetCurrency()),
		},
	}
	for _, it := range o.GetItems() {
		d.facts.Units += it.GetQuantity()
	}
	return d
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// readMoney checks an amount and its currency, fields prefix+"amount_minor"
// (total_minor for orders) and prefix+"currency".
func readMoney(v *validate.Fields, prefix string, minor int64, currency string) Money {
	amount := "amount_minor"
	if prefix == "order." {
		amount = "total_minor"
	}
	if minor < 0 {
		v.Add(prefix+amount, "must not be negative")
	}
	if !currencyCode.MatchString(currency) {
		v.Add(prefix+"currency", "must be an ISO 4217 code")
	}
	return Money{Minor: minor, Currency: currency}
}

// Limits of a recipient; the schema repeats them.
const (
	MaxEmailLen = 254 // octets, as SMTP allows
	MaxNameLen  = 200 // characters
)

// readRegistered reads a sign-up: the recipient and the welcome.
func readRegistered(e *userv1.UserRegistered, v *validate.Fields) eventData {
	userID := v.UUID("user_id", e.GetUserId())
	addr, err := mail.ParseAddress(e.GetEmail())
	if err != nil || addr.Name != "" || addr.Address != e.GetEmail() || len(addr.Address) > MaxEmailLen {
		// Exactly an addr-spec: nothing a header could be built around.
		v.Add("email", "must be an email address")
		addr = &mail.Address{}
	}
	name := strings.TrimSpace(e.GetName())
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) || utf8.RuneCountInString(name) > MaxNameLen {
		v.Add("name", "must be one line of at most 200 characters")
	}
	return eventData{
		userID:    userID,
		facts:     Facts{Name: name},
		recipient: &Recipient{UserID: userID, Email: addr.Address, Name: name},
	}
}
