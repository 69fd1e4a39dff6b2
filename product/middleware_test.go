package product_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/product"
)

// failingRepo fails every call with err.
type failingRepo struct {
	product.Repository
	err error
}

func (r failingRepo) Delete(context.Context, string) error { return r.err }

func TestLoggingMiddleware(t *testing.T) {
	var buf bytes.Buffer
	svc := product.LoggingMiddleware(log.NewLogfmtLogger(&buf))(product.NewService(newMemRepo()))
	ctx := requestid.NewContext(context.Background(), "req-1")
	// The admin who makes the changes; the delete below comes from a
	// context without a caller, as from a test or a batch job.
	adminCtx := auth.NewContext(ctx, auth.Identity{UserID: "admin-7", Roles: []string{auth.RoleAdmin}})

	p, err := svc.Create(adminCtx, product.NewProduct{SKU: "log-1", Name: "Secret Name", Description: "Secret description", PriceMinor: 4242, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(adminCtx, p.ID, product.Patch{Name: ptr("Another Secret"), Stock: ptr[int64](3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, "<script>"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("Delete(malformed) = %v", err)
	}

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=info msg="catalog changed" op=create request_id=req-1 user_id=admin-7 sku=LOG-1 id=` + p.ID,
		`level=info msg="catalog changed" op=update request_id=req-1 user_id=admin-7 id=` + p.ID + ` fields=name,stock sku=LOG-1`,
		`level=info msg="catalog change rejected" op=delete request_id=req-1 id=(malformed) kind=invalid`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d log lines, want %d (reads are not logged):\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w+" took=") {
			t.Errorf("line %d:\ngot  %s\nwant %s took=…", i, lines[i], w)
		}
	}
	for _, secret := range []string{"Secret", "4242", "<script>"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
}

func TestLoggingMiddlewareFailure(t *testing.T) {
	var buf bytes.Buffer
	cause := errs.Wrap(context.DeadlineExceeded, errs.Unavailable, "product database unavailable")
	svc := product.LoggingMiddleware(log.NewLogfmtLogger(&buf))(product.NewService(failingRepo{err: cause}))
	id := uuid.NewString()
	if err := svc.Delete(context.Background(), id); err != cause {
		t.Fatalf("Delete = %v, want the repository's error unchanged", err)
	}
	got := buf.String()
	for _, want := range []string{"level=error", `msg="catalog change failed"`, "kind=unavailable", "id=" + id, "err=", "deadline exceeded"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
