package product

import (
	"strconv"

	"github.com/kitshop/kitshop/internal/jsonstr"
)

// appendProductJSON appends p as encoding/json would marshal it, byte for
// byte (the same field order and names, HTML-safe string escapes, RFC 3339
// times), without its reflection: a point read spends more on
// json.Marshal than on anything else the service adds. The fuzz test holds
// the two encodings equal.
func appendProductJSON(b []byte, p Product) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = jsonstr.Append(b, p.ID, true)
	b = append(b, `,"sku":`...)
	b = jsonstr.Append(b, p.SKU, true)
	b = append(b, `,"name":`...)
	b = jsonstr.Append(b, p.Name, true)
	b = append(b, `,"description":`...)
	b = jsonstr.Append(b, p.Description, true)
	b = append(b, `,"price_minor":`...)
	b = strconv.AppendInt(b, p.PriceMinor, 10)
	b = append(b, `,"currency":`...)
	b = jsonstr.Append(b, p.Currency, true)
	b = append(b, `,"stock":`...)
	b = strconv.AppendInt(b, p.Stock, 10)
	b = append(b, `,"created_at":"`...)
	b, err := p.CreatedAt.AppendText(b) // what Time.MarshalJSON quotes
	if err != nil {
		return nil, err
	}
	b = append(b, `","updated_at":"`...)
	if b, err = p.UpdatedAt.AppendText(b); err != nil {
		return nil, err
	}
	return append(b, `"}`...), nil
}
