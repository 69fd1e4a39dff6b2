package liveconfig_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/liveconfig"
)

type composite struct {
	Path  string   `json:"path"`
	Parts []string `json:"parts"`
}

var testSchema = liveconfig.NewSchema("svc",
	liveconfig.Int("rate-burst", "burst", 1, 1000),
	liveconfig.Float("rate-limit", "limit", 0, 1e6),
	liveconfig.Duration("request-timeout", "timeout", time.Millisecond, time.Minute),
	liveconfig.Enum("log-level", "level", "debug", "info", "warn", "error"),
	liveconfig.Bool("strict", "strict"),
	liveconfig.JSON("composites", "composites", func(cs []composite) error {
		for _, c := range cs {
			if c.Path == "" || len(c.Parts) == 0 {
				return errors.New("each composite needs a path and parts")
			}
		}
		return nil
	}),
)

func TestSchemaCheck(t *testing.T) {
	tests := []struct {
		key, value string
		wantErr    bool
	}{
		{"rate-burst", "10", false},
		{"rate-burst", " 10 ", false},
		{"rate-burst", "0", true},
		{"rate-burst", "ten", true},
		{"rate-limit", "2.5", false},
		{"rate-limit", "-1", true},
		{"rate-limit", "NaN", true},
		{"rate-limit", "Inf", true},
		{"request-timeout", "250ms", false},
		{"request-timeout", "2m", true},
		{"request-timeout", "5", true},
		{"log-level", "debug", false},
		{"log-level", "verbose", true},
		{"strict", "true", false},
		{"strict", "yes", true},
		{"composites", `[{"path":"/a","parts":["x"]}]`, false},
		{"composites", `[{"path":"/a","parts":[]}]`, true},
		{"composites", `[{"path":"/a","parts":["x"],"extra":1}]`, true},
		{"composites", `[] []`, true},
		{"composites", `{`, true},
		{"feature/new-checkout", "true", false},
		{"feature/new-checkout", "maybe", true},
		{"feature/Bad", "true", true},
		{"nope", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			err := testSchema.Check(tt.key, tt.value)
			if got := err != nil; got != tt.wantErr {
				t.Errorf("Check(%q, %q) = %v, want error %v", tt.key, tt.value, err, tt.wantErr)
			}
		})
	}
}

func TestUnknownKeyIsErrUnknownKey(t *testing.T) {
	if err := testSchema.Check("nope", "1"); !errors.Is(err, liveconfig.ErrUnknownKey) {
		t.Errorf("Check of an unknown key = %v, want ErrUnknownKey", err)
	}
}

func TestDefFormatRoundTrips(t *testing.T) {
	d := liveconfig.Duration("t", "", 0, time.Hour)
	got, err := d.Parse(d.Format(1500 * time.Millisecond))
	if err != nil || got != 1500*time.Millisecond {
		t.Errorf("Parse(Format(1.5s)) = %v, %v", got, err)
	}
}

func TestNewSchemaRefusesDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewSchema with a duplicate key did not panic")
		}
	}()
	liveconfig.NewSchema("svc", liveconfig.Bool("a", ""), liveconfig.Bool("a", ""))
}
