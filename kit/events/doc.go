// Package events is what kitshop's services share about their events: the
// envelope every event travels in, the JetStream streams and durable
// consumers that carry them, and the glue between kit/outbox (the producing
// half) and kit/subscriber (the consuming half).
//
// A producer builds an outbox.Event with New, inside the transaction that
// makes the change, and adds it with outbox.Add; the relay publishes it on
// its subject, in its source's stream (EnsureStream). A consumer creates a
// durable consumer on that stream (Consume) and decodes each message with
// Decode, which unwraps the envelope into a Message whose Data is the
// event's own protobuf message:
//
//	ev, err := events.New(ctx, "order", orderv1.SubjectConfirmed, "order/"+id,
//		&orderv1.OrderConfirmed{Order: o})
//	...
//	sub := subscriber.New(handle, events.Decode, ...)
//	cc, err := events.Consume(ctx, js, events.ConsumerConfig{
//		Stream: orderv1.Stream, Durable: "payment", Subjects: []string{orderv1.SubjectConfirmed},
//	}, sub.Handle)
//
// The contracts themselves (messages, subjects, stream names) live with
// each service's API under proto/<service>/v1, and the envelope under
// proto/events/v1.
package events
