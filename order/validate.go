package order

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/paging"
	"github.com/kitshop/kitshop/kit/validate"
)

// ParseID returns id in canonical form (lower-case, hyphenated) or an
// Invalid error. Only the canonical 36-character form is accepted.
func ParseID(id string) (string, error) { return validate.ID(id, "malformed order id") }

// ValidateNew checks o and returns its lines merged: one line per product,
// in the position of the product's first line, quantities added. Product
// ids are returned in canonical form. Errors name the fields as the client
// sent them (items[i].quantity).
func ValidateNew(o NewOrder) ([]LineRequest, error) {
	var v validator
	switch {
	case len(o.Items) == 0:
		v.Add("items", "must list at least one product")
	case len(o.Items) > MaxLines:
		v.Add("items", "must list at most 50 lines")
	}
	if o.IdempotencyKey != "" && !ValidIdempotencyKey(o.IdempotencyKey) {
		v.Add("idempotency_key", "must be 1 to 255 printable ASCII characters")
	}
	if o.PaymentMethod != "" && !slices.Contains(PaymentMethods, o.PaymentMethod) {
		v.Add("payment_method", "must be one of "+strings.Join(PaymentMethods, ", "))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var (
		merged []LineRequest
		index  = map[string]int{} // product id -> position in merged
	)
	for i, l := range o.Items {
		id, err := uuid.Parse(l.ProductID)
		if err != nil || len(l.ProductID) != 36 {
			v.Add(fmt.Sprintf("items[%d].product_id", i), "must be a UUID")
			continue
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			v.Add(fmt.Sprintf("items[%d].quantity", i), "must be between 1 and 1000")
			continue
		}
		pid := id.String()
		if j, dup := index[pid]; dup {
			merged[j].Quantity += l.Quantity
			if merged[j].Quantity > MaxQuantity {
				v.Add(fmt.Sprintf("items[%d].quantity", i), "adds up to more than 1000 for this product")
			}
			continue
		}
		index[pid] = len(merged)
		merged = append(merged, LineRequest{ProductID: pid, Quantity: l.Quantity})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return merged, nil
}

// ValidIdempotencyKey reports whether key is 1 to MaxIdempotencyKey
// printable ASCII characters (space to tilde).
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// RequestHash returns the SHA-256 a request's idempotency key is stored
// with: of the merged lines and the payment method (empty meaning the
// default), so that the same order sent again, however its lines are spelt
// or split, matches.
func RequestHash(lines []LineRequest, paymentMethod string) []byte {
	h := sha256.New()
	if paymentMethod != "" && paymentMethod != DefaultPaymentMethod {
		// Orders with the default method hash as they did before
		// payment methods existed.
		h.Write([]byte(paymentMethod))
		h.Write([]byte{0})
	}
	for _, l := range lines {
		h.Write([]byte(l.ProductID))
		var q [8]byte
		binary.BigEndian.PutUint64(q[:], uint64(l.Quantity))
		h.Write(q[:])
	}
	return h.Sum(nil)
}

func validateListQuery(q ListQuery) (Filter, error) {
	var v validator
	f := Filter{Limit: q.Limit}
	if limit, ok := paging.DefaultSizes.Limit(q.Limit); ok {
		f.Limit = limit
	} else {
		v.Add("limit", paging.DefaultSizes.RangeMessage())
	}
	if q.PageToken != "" {
		pos, ok := decodePageToken(q.PageToken)
		if !ok {
			v.Add("page_token", "is not a token returned by this API")
		} else {
			f.Before = &pos
		}
	}
	return f, v.Err()
}

// validator collects field errors so that one response lists them all,
// with the service's own rules as methods.
type validator struct{ validate.Fields }

// Page tokens carry the position of a page's last order (kit/paging).
// Times are in microseconds, Postgres's precision.
func encodePageToken(p Position) string {
	return paging.Encode(strconv.FormatInt(p.CreatedAt.UnixMicro(), 10), p.ID)
}

func decodePageToken(token string) (Position, bool) {
	fields, ok := paging.Decode(token, 2)
	if !ok {
		return Position{}, false
	}
	us, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return Position{}, false
	}
	id, ok := validate.ParseUUID(fields[1])
	if !ok {
		return Position{}, false
	}
	return Position{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, true
}
