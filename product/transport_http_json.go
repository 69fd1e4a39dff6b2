package product

import (
	"strconv"
	"unicode/utf8"
)

// appendProductJSON appends p as encoding/json would marshal it, byte for
// byte (the same field order and names, HTML-safe string escapes, RFC 3339
// times), without its reflection: a point read spends more on
// json.Marshal than on anything else the service adds. The fuzz test holds
// the two encodings equal.
func appendProductJSON(b []byte, p Product) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, p.ID)
	b = append(b, `,"sku":`...)
	b = appendJSONString(b, p.SKU)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, p.Name)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, p.Description)
	b = append(b, `,"price_minor":`...)
	b = strconv.AppendInt(b, p.PriceMinor, 10)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, p.Currency)
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

// appendJSONString appends s quoted as encoding/json does by default:
// control characters, quote and backslash escaped, and <, >, & as \u003c
// and so on; invalid UTF-8 as \ufffd; U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
