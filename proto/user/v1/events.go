package userv1

// The user service's events: the JetStream stream that holds them, and the
// subject each is published on. An event's subject is also its type in the
// envelope (kitshop.events.v1.Envelope).
const (
	// Stream is the JetStream stream of the user service's events; it
	// captures StreamSubjects.
	Stream         = "KITSHOP_USER"
	StreamSubjects = "kitshop.user.v1.>"

	SubjectRegistered = "kitshop.user.v1.registered"
)
