package productv1

// The product service's events: the JetStream stream that holds them, and the
// subject each is published on. An event's subject is also its type in the
// envelope (kitshop.events.v1.Envelope).
const (
	// Stream is the JetStream stream of the product service's events; it
	// captures StreamSubjects.
	Stream         = "KITSHOP_PRODUCT"
	StreamSubjects = "kitshop.product.v1.>"

	SubjectChanged = "kitshop.product.v1.changed"
)
