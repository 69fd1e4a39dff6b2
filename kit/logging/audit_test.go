package logging_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
)

func TestAudit(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
		not  []string
	}{
		{"success", nil, []string{`level=info`, `msg="catalog changed"`, `op=create`, `request_id=req-1`, `sku=MUG-1`, `took=`}, []string{"kind=", "err="}},
		{"rejected", errs.New(errs.Conflict, "sku taken"), []string{`level=info`, `msg="catalog change rejected"`, `kind=conflict`}, []string{"err="}},
		{"failed", errs.Wrap(errors.New("connection reset"), errs.Unavailable, "db down"), []string{`level=error`, `msg="catalog change failed"`, `kind=unavailable`, `err=`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			audit := logging.NewAudit(log.NewLogfmtLogger(&buf), "catalog changed", "catalog change")
			ctx := requestid.NewContext(context.Background(), "req-1")
			audit.Log(ctx, "create", tt.err, time.Now(), "sku", "MUG-1")
			line := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(line, n) {
					t.Errorf("line %q has %q", line, n)
				}
			}
		})
	}
}
