package paymentv1

// The payment service's events: the JetStream stream that holds them, and the
// subject each is published on. An event's subject is also its type in the
// envelope (kitshop.events.v1.Envelope).
const (
	// Stream is the JetStream stream of the payment service's events; it
	// captures StreamSubjects.
	Stream         = "KITSHOP_PAYMENT"
	StreamSubjects = "kitshop.payment.v1.>"

	SubjectSucceeded = "kitshop.payment.v1.succeeded"
	SubjectFailed    = "kitshop.payment.v1.failed"
	SubjectRefunded  = "kitshop.payment.v1.refunded"
)
