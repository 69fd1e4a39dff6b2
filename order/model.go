package order

import (
	"time"

	"github.com/kitshop/kitshop/kit/paging"
)

// Limits on orders. The database schema repeats them as CHECK constraints
// (migrations/order).
const (
	MaxLines          = 50   // lines per order, after merging lines for the same product
	MaxQuantity       = 1000 // units per line
	MaxIdempotencyKey = 255  // bytes of an Idempotency-Key
	DefaultPageSize   = paging.DefaultLimit
	MaxPageSize       = paging.MaxLimit
)

// Status is where an order is in its life.
type Status string

// The statuses. Pending is transient: every pending order ends confirmed,
// rejected or failed, by the request that placed it or by the recovery loop.
const (
	StatusPending   Status = "pending"   // placed; stock not reserved yet
	StatusConfirmed Status = "confirmed" // stock reserved
	StatusRejected  Status = "rejected"  // short stock: nothing reserved
	StatusFailed    Status = "failed"    // catalog unreachable: nothing stays reserved
	StatusCancelled Status = "cancelled" // cancelled (CancelReason says why); stock given back
	StatusPaid      Status = "paid"      // confirmed, and the payment succeeded
)

// Test payment methods (the payment service's simulated provider, after
// Stripe's test cards). DefaultPaymentMethod is used when an order names
// none.
const (
	PaymentCardVisa     = "pm_card_visa"           // succeeds
	PaymentCardDeclined = "pm_card_chargeDeclined" // is declined
	PaymentCardSlow     = "pm_card_slow"           // succeeds after a few seconds

	DefaultPaymentMethod = PaymentCardVisa
)

// PaymentMethods are the methods an order may name.
var PaymentMethods = []string{PaymentCardVisa, PaymentCardDeclined, PaymentCardSlow}

// Why an order was cancelled.
const (
	CancelledByCustomer    = "customer"         // its owner (or an admin) cancelled it
	CancelledPaymentDenied = "payment_declined" // its payment was declined
)

// Order is one order. Amounts are integers in the currency's minor unit.
type Order struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	Status     Status `json:"status"`
	Items      []Item `json:"items"`
	TotalMinor int64  `json:"total_minor"`
	Currency   string `json:"currency"`
	// PaymentMethod is the test method the order is charged with.
	PaymentMethod string `json:"payment_method"`
	// CancelReason says why a cancelled order was cancelled
	// (CancelledByCustomer, CancelledPaymentDenied); empty otherwise.
	CancelReason string    `json:"cancel_reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Item is one line of an order, as the catalog priced it when the order was
// placed.
type Item struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	Quantity       int64  `json:"quantity"`
	LineTotalMinor int64  `json:"line_total_minor"`
}

// LineRequest asks for Quantity units of a product.
type LineRequest struct {
	ProductID string
	Quantity  int64
}

// NewOrder is the input of Create.
type NewOrder struct {
	// Items are the lines asked for, 1 to MaxLines; lines for the same
	// product are merged into one (quantities added), in the position of
	// the first.
	Items []LineRequest
	// IdempotencyKey, if not empty, makes Create safe to retry: see Create.
	IdempotencyKey string
	// PaymentMethod is one of PaymentMethods; empty means
	// DefaultPaymentMethod.
	PaymentMethod string
}

// Created is the result of Create.
type Created struct {
	Order Order
	// Replayed is true when the order was placed by an earlier request with
	// the same idempotency key, and false when this request placed it.
	Replayed bool
}

// ListQuery selects one page of orders.
type ListQuery struct {
	// Limit is the page size, 1..MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty.
	PageToken string
	// All lists every user's orders instead of the caller's; admins only.
	All bool
}

// Page is one page of orders, newest first.
type Page struct {
	Orders []Order
	// NextPageToken fetches the following page; empty on the last page.
	NextPageToken string
}
