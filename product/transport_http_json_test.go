package product_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/kitshop/kitshop/product"
)

// jsonCases are products whose strings and times exercise every escape of
// encoding/json.
var jsonCases = []product.Product{
	{ID: "0b7e2a39-3c2c-4c4e-9a59-1d1f4a0c7f10", SKU: "MUG-1", Name: "Mug", Description: "Stoneware, 350 ml",
		PriceMinor: 1500, Currency: "EUR", Stock: 10,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	{Name: `<b>"Tom" & 'Jerry'</b> \ back`, Description: "tab\tnew\nline\rcr\bbs\fff\x00\x01\x1f\x7f",
		PriceMinor: -1, Stock: 1 << 62, CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	{Name: "caf\u00e9 \u2028 \u2029 \U0001F600", Description: "bad \xff\xfe utf-8 \xe2\x82", Currency: "日本",
		CreatedAt: time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600+1800))},
	{},
}

func TestAppendProductJSONMatchesEncodingJSON(t *testing.T) {
	for _, p := range jsonCases {
		t.Run(p.Name, func(t *testing.T) {
			want, wantErr := json.Marshal(p)
			got, err := product.AppendProductJSON(nil, p)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Errorf("got %s (err %v)\nwant %s (err %v)", got, err, want, wantErr)
			}
		})
	}
	t.Run("year out of range", func(t *testing.T) {
		p := product.Product{UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
		if _, err := json.Marshal(p); err == nil {
			t.Fatal("encoding/json accepted year 10000")
		}
		if got, err := product.AppendProductJSON(nil, p); err == nil {
			t.Errorf("got %s, want an error", got)
		}
	})
}

func FuzzAppendProductJSON(f *testing.F) {
	for _, p := range jsonCases {
		f.Add(p.Name, p.Description, p.PriceMinor, p.CreatedAt.UnixNano())
	}
	f.Fuzz(func(t *testing.T, name, description string, price, nanos int64) {
		p := product.Product{ID: name, SKU: description, Name: name, Description: description,
			PriceMinor: price, Currency: name, Stock: -price, CreatedAt: time.Unix(0, nanos).UTC(), UpdatedAt: time.Unix(0, nanos)}
		want, wantErr := json.Marshal(p)
		got, err := product.AppendProductJSON(nil, p)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("got %s (err %v)\nwant %s (err %v)", got, err, want, wantErr)
		}
	})
}
