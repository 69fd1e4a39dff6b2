package paging_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/paging"
)

func TestTokenRoundTrip(t *testing.T) {
	tests := [][]string{{"SKU-1"}, {"1733500000000000", "0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90"}, {""}}
	for _, fields := range tests {
		got, ok := paging.Decode(paging.Encode(fields...), len(fields))
		if !ok || !slices.Equal(got, fields) {
			t.Errorf("Decode(Encode(%q)) = %q, %v", fields, got, ok)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, token string
		n           int
	}{
		{"not base64", "%%%", 1},
		{"no version", base64.RawURLEncoding.EncodeToString([]byte("SKU-1")), 1},
		{"old version", base64.RawURLEncoding.EncodeToString([]byte("v0\x1fSKU-1")), 1},
		{"too few fields", paging.Encode("a"), 2},
		{"too many fields", paging.Encode("a", "b"), 1},
		{"too long", paging.Encode(strings.Repeat("a", paging.MaxTokenLen)), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := paging.Decode(tt.token, tt.n); ok {
				t.Errorf("Decode accepted %q as %q", tt.token, got)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	s := paging.Sizes{Default: 20, Max: 100}
	tests := []struct {
		in, want int
		ok       bool
	}{{0, 20, true}, {1, 1, true}, {100, 100, true}, {101, 101, false}, {-1, -1, false}}
	for _, tt := range tests {
		if got, ok := s.Limit(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("Limit(%d) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
