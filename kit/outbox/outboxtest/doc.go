// Package outboxtest reads a service's outbox in tests: the events a change
// wrote, each once, in the order they were added, with their envelopes
// (kit/events) unwrapped.
package outboxtest
