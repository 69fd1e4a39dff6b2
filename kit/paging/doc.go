// Package paging holds what every list endpoint shares: a page size with a
// default and an upper bound, and opaque, versioned page tokens with a
// bounded length.
//
// A token carries the keyset position of a page's last item (a SKU, or a
// time and an id) as text fields. It is opaque to clients, so the keyset
// can change without breaking the API; its version prefix lets a service
// refuse tokens of an older shape instead of misreading them.
package paging
