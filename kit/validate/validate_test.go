package validate_test

import (
	"errors"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/validate"
)

func TestFields(t *testing.T) {
	var v validate.Fields
	if err := v.Err(); err != nil {
		t.Fatalf("empty collector: %v", err)
	}
	id := v.UUID("product_id", "0B7F6C1E-3F4A-4B6E-9A53-2F1D1C7E8A90")
	if id != "0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90" {
		t.Errorf("UUID = %q, want the canonical form", id)
	}
	tests := []struct {
		field, value string
		max          int
		ok           bool
	}{
		{"name", "Demo mug", 10, true},
		{"note", "two\nlines\tand a tab", 40, true},
		{"nul", "ada\x00", 10, false},
		{"utf8", "\xff\xfe", 10, false},
		{"overlong", "\xc0\xaf", 10, false},
		{"escape", "a\x1b[31m", 10, false},
		{"long", "ééééé", 4, false},
	}
	for _, tt := range tests {
		if got := v.Text(tt.field, tt.value, tt.max); got != tt.ok {
			t.Errorf("Text(%q, %q) = %v, want %v", tt.field, tt.value, got, tt.ok)
		}
	}
	v.UUID("order_id", "{0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90}")
	var e *errs.Error
	if err := v.Err(); !errors.As(err, &e) || e.Kind != errs.Invalid {
		t.Fatalf("Err = %v, want Invalid", err)
	}
	var got []string
	for _, f := range e.Fields {
		got = append(got, f.Field)
	}
	want := []string{"nul", "utf8", "overlong", "escape", "long", "order_id"}
	if len(got) != len(want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("fields = %v, want %v", got, want)
			break
		}
	}
	if !v.Has("long") || v.Has("name") {
		t.Error("Has does not match the recorded fields")
	}
}

func TestID(t *testing.T) {
	if _, err := validate.ID("42", "malformed product id"); errs.KindOf(err) != errs.Invalid || errs.Message(err) != "malformed product id" {
		t.Errorf("ID(42) = %v, want Invalid with the caller's message", err)
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		in      string
		max     int
		want    string
		wantMsg string
	}{
		{"  Demo mug ", 20, "Demo mug", ""},
		{"   ", 20, "", "must not be empty"},
		{"abcdef", 5, "abcdef", "must be at most 5 characters"},
		{"two\nlines", 20, "two\nlines", "must be valid UTF-8 text without control characters"},
		{"bad\xff", 20, "bad\xff", "must be valid UTF-8 text without control characters"},
	}
	for _, tt := range tests {
		var v validate.Fields
		if got := v.Line("name", tt.in, tt.max); got != tt.want {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
		fields := errs.FieldsOf(v.Err())
		switch {
		case tt.wantMsg == "" && len(fields) != 0:
			t.Errorf("Line(%q): unexpected %v", tt.in, fields)
		case tt.wantMsg != "" && (len(fields) != 1 || fields[0].Field != "name" || fields[0].Message != tt.wantMsg):
			t.Errorf("Line(%q): fields %v, want name: %s", tt.in, fields, tt.wantMsg)
		}
	}
}

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90", "0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90", true},
		{"0B7F6C1E-3F4A-4B6E-9A53-2F1D1C7E8A90", "0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90", true},
		{"0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8A90", "0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8a90", true},
		{"0b7f6c1e3f4a4b6e9a532f1d1c7e8a90", "", false},
		{"0b7f6c1e-3f4a-4b6e-9a53-2f1d1c7e8g90", "", false},
		{"0b7f6c1e+3f4a-4b6e-9a53-2f1d1c7e8a90", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := validate.ParseUUID(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseUUID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
