// Package notification is the notification service: it turns other
// services' events into in-app notifications for the users they concern,
// emails them when SMTP is configured, and lets each user list their
// notifications and mark them read over HTTP and gRPC.
//
// # Events in
//
// It consumes three JetStream streams with durable consumers named
// Consumer (Subscriptions): the order service's confirmed, rejected,
// cancelled, paid and payment_failed events, the payment service's
// refunded, and the user service's registered, which makes a welcome
// notification and stores the user's address and name in the recipients
// table (event-carried state: the service emails without calling the user
// service). Each event has exactly one template (templates/*.tmpl) that
// renders its title and body.
//
// An event's effect happens once however often JetStream delivers it: the
// handler (EventHandler) records the event id in the inbox
// (subscriber.Once) and inserts the notification, and the email to send, in
// one transaction; the notification's event_id is UNIQUE as a second guard.
// An event that breaks its contract (a user id that is no UUID, an address
// that does not parse) is rejected — acknowledged, logged and counted by
// kit/subscriber, never retried — and one that cannot be decoded at all is
// dead-lettered.
//
// # Email
//
// Emails are queued in the emails table, in the notification's
// transaction, when SMTP is configured and the user's address is known
// (from a registered event handled earlier). A Sender sends them with
// net/smtp: woken after the commit, polling as a fallback, claiming each row
// with SKIP LOCKED and a lease so that several instances never send one mail
// at once, retrying failures with backoff. The Message-ID derives from the
// event id, so the rare duplicate (a sender that died between the SMTP
// server's acceptance and marking the row sent) is recognisable as one.
//
// # API
//
// Every route needs the access token of a customer or an admin; each user
// sees and changes only their own notifications (admins too). The rule is
// enforced at the endpoints (NewEndpoints), which both transports share.
//
// The package reads as its layers: service.go (the domain and the API's
// Service), events.go and templates.go (events in, rendered notifications
// out), email.go and sender.go (the email queue's sending side),
// postgres.go (the storage), endpoint.go, transport_http.go,
// transport_grpc.go and middleware.go. cmd/notification wires them.
package notification
