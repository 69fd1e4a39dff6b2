package orderv1

// The order service's events: the JetStream stream that holds them, and the
// subject each is published on. An event's subject is also its type in the
// envelope (kitshop.events.v1.Envelope).
const (
	// Stream is the JetStream stream of the order service's events; it
	// captures StreamSubjects.
	Stream         = "KITSHOP_ORDER"
	StreamSubjects = "kitshop.order.v1.>"

	SubjectPlaced        = "kitshop.order.v1.placed"
	SubjectConfirmed     = "kitshop.order.v1.confirmed"
	SubjectRejected      = "kitshop.order.v1.rejected"
	SubjectCancelled     = "kitshop.order.v1.cancelled"
	SubjectPaid          = "kitshop.order.v1.paid"
	SubjectPaymentFailed = "kitshop.order.v1.payment_failed"
)
