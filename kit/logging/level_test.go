package logging_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/logging"
)

func TestLevelVar(t *testing.T) {
	var buf bytes.Buffer
	lv, err := logging.NewLevelVar("info")
	if err != nil {
		t.Fatal(err)
	}
	logger := log.With(lv.Filter(log.NewLogfmtLogger(&buf)), "service", "x")
	logAll := func() string {
		buf.Reset()
		level.Debug(logger).Log("msg", "d")
		level.Info(logger).Log("msg", "i")
		level.Warn(logger).Log("msg", "w")
		level.Error(logger).Log("msg", "e")
		logger.Log("msg", "none")
		return buf.String()
	}
	tests := []struct {
		level      string
		want, drop []string
	}{
		{"info", []string{"msg=i", "msg=w", "msg=e", "msg=none"}, []string{"msg=d"}},
		{"debug", []string{"msg=d", "msg=i", "msg=e"}, nil},
		{"error", []string{"msg=e", "msg=none"}, []string{"msg=d", "msg=i", "msg=w"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			if err := lv.Set(tt.level); err != nil {
				t.Fatal(err)
			}
			got := logAll()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("at %s: %q missing from\n%s", tt.level, w, got)
				}
			}
			for _, d := range tt.drop {
				if strings.Contains(got, d) {
					t.Errorf("at %s: %q logged:\n%s", tt.level, d, got)
				}
			}
		})
	}
	if err := lv.Set("verbose"); err == nil || lv.String() != "error" {
		t.Errorf("Set(verbose) = %v, level %s; want an error and the level kept", err, lv)
	}
}
