// Package ratelimit sheds load with token buckets before it reaches a
// service or a dependency.
//
// Use TokenBucket with Middleware to cap the total rate of one endpoint, and
// Keyed to give each client (by IP address or user id) its own bucket, as the
// gateway does. Rejected calls fail fast with an errs.RateLimited error whose
// RetryAfter is a whole number of seconds (at least one), ready for an HTTP
// Retry-After header.
//
// Keyed holds at most maxKeys buckets and needs no background goroutine:
// buckets that have refilled completely are indistinguishable from new ones
// and are dropped lazily, and when the table is full a little-used bucket
// makes room (never one that spent more than the others nearby, so a
// lockout cannot be reset by flooding the table with new keys).
//
// ClientKey turns a client's IP address into its key: IPv6 clients by their
// /64, since each owns all the addresses in it.
package ratelimit
