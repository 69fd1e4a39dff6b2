package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	kitmetrics "github.com/go-kit/kit/metrics"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
)

// scrape returns the exposition text of m's handler.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l) {
			t.Errorf("metrics lack %q", l)
		}
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "success"},
		{errs.New(errs.NotFound, "x"), "not_found"},
		{errs.New(errs.RateLimited, "x"), "rate_limited"},
		{context.DeadlineExceeded, "unavailable"},
		{errors.New("boom"), "internal"},
	}
	for _, tt := range tests {
		if got := metrics.Outcome(tt.err); got != tt.want {
			t.Errorf("Outcome(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestEndpointMiddleware(t *testing.T) {
	m := metrics.New("product")
	calls := []error{nil, nil, errs.New(errs.NotFound, "gone"), errs.New(errs.RateLimited, "slow down")}
	for _, want := range calls {
		ep := m.EndpointMiddleware("GetProduct")(func(context.Context, any) (any, error) { return nil, want })
		if _, err := ep(context.Background(), nil); err != want {
			t.Fatalf("middleware changed the error: %v", err)
		}
	}
	text := scrape(t, m)
	wantLines(t, text,
		`kitshop_requests_total{method="GetProduct",outcome="success",service="product"} 2`,
		`kitshop_requests_total{method="GetProduct",outcome="not_found",service="product"} 1`,
		`kitshop_requests_total{method="GetProduct",outcome="rate_limited",service="product"} 1`,
		`kitshop_request_duration_seconds_count{method="GetProduct",outcome="success",service="product"} 2`,
		`go_goroutines`,
	)
}

// fakeBreaker rejects calls while open, like a real breaker.
type fakeBreaker struct{ open bool }

func (b *fakeBreaker) Open() bool { return b.open }
func (b *fakeBreaker) Execute(ctx context.Context, run func(context.Context) error) error {
	if b.open {
		return errs.New(errs.Unavailable, "circuit open")
	}
	return run(ctx)
}

func TestBreaker(t *testing.T) {
	m := metrics.New("order")
	fb := &fakeBreaker{}
	b := m.Breaker("order->product", fb)
	// A call that runs and fails is not a rejection.
	_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
	wantLines(t, scrape(t, m), `kitshop_breaker_open{breaker="order->product"} 0`)

	fb.open = true
	ran := false
	for range 3 {
		_ = b.Execute(context.Background(), func(context.Context) error { ran = true; return nil })
	}
	if ran {
		t.Fatal("an open breaker ran the call")
	}
	wantLines(t, scrape(t, m),
		`kitshop_breaker_open{breaker="order->product"} 1`,
		`kitshop_breaker_rejections_total{breaker="order->product"} 3`,
	)
}

func TestRateLimited(t *testing.T) {
	m := metrics.New("gateway")
	m.RateLimited("client")
	m.RateLimited("client")
	wantLines(t, scrape(t, m),
		`kitshop_ratelimit_rejections_total{limiter="client"} 2`,
	)
}

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPool reads the statistics of a real pool after real queries.
func TestPool(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for range 3 {
		if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.New("product")
	m.Pool("product", pool)
	text := scrape(t, m)
	wantLines(t, text,
		`kitshop_db_pool_acquired_conns{pool="product"} 0`,
		`kitshop_db_pool_acquires_total{pool="product"} 3`,
		`kitshop_db_pool_max_conns{pool="product"}`,
	)
}

// Two Metrics in one process must not collide: nothing is global.
func TestIndependentRegistries(t *testing.T) {
	a, b := metrics.New("a"), metrics.New("b")
	a.RateLimited("x")
	if strings.Contains(scrape(t, b), `limiter="x"`) {
		t.Fatal("registries share state")
	}
}

// Outcomes are cached per slot; kinds beyond the known ones must still land
// on the "internal" series, and plain errors too.
func TestEndpointMiddlewareOutcomes(t *testing.T) {
	m := metrics.New("order")
	for _, err := range []error{
		errs.New(errs.Kind(200), "unknown kind"),
		errors.New("plain"),
		errs.New(errs.Internal, "bug"),
		errs.Wrap(context.DeadlineExceeded, errs.Unavailable, "slow"),
		context.DeadlineExceeded,
		nil,
	} {
		ep := m.EndpointMiddleware("PlaceOrder")(func(context.Context, any) (any, error) { return nil, err })
		for range 2 { // the second call takes the cached instruments
			_, _ = ep(context.Background(), nil)
		}
	}
	wantLines(t, scrape(t, m),
		`kitshop_requests_total{method="PlaceOrder",outcome="internal",service="order"} 6`,
		`kitshop_requests_total{method="PlaceOrder",outcome="unavailable",service="order"} 4`,
		`kitshop_requests_total{method="PlaceOrder",outcome="success",service="order"} 2`,
		`kitshop_request_duration_seconds_count{method="PlaceOrder",outcome="internal",service="order"} 6`,
	)
}

// Series appear only for outcomes that happened.
func TestEndpointMiddlewareNoIdleSeries(t *testing.T) {
	m := metrics.New("order")
	_ = m.EndpointMiddleware("ListOrders")
	if text := scrape(t, m); strings.Contains(text, `method="ListOrders"`) {
		t.Errorf("series before any call:\n%s", text)
	}
}

// lateBreaker gives up at once and starts run afterwards on another
// goroutine, as hystrix does after its timeout.
type lateBreaker struct{ done chan struct{} }

func (b *lateBreaker) Execute(ctx context.Context, run func(context.Context) error) error {
	go func() {
		defer close(b.done)
		_ = run(ctx)
	}()
	return errs.New(errs.Unavailable, "timed out")
}

// Under -race: the wrapper must not race with a run that starts late.
func TestBreakerLateRun(t *testing.T) {
	m := metrics.New("order")
	lb := &lateBreaker{done: make(chan struct{})}
	b := m.Breaker("late", lb)
	_ = b.Execute(context.Background(), func(context.Context) error { return nil })
	<-lb.done
}

// recCounter and recHistogram are a go-kit metrics backend of the test's
// own: they record every value with the labels it was given.
type recCounter struct {
	lvs  []string
	adds *[]string
}

func (c recCounter) With(lvs ...string) kitmetrics.Counter {
	return recCounter{lvs: append(append([]string{}, c.lvs...), lvs...), adds: c.adds}
}
func (c recCounter) Add(float64) { *c.adds = append(*c.adds, strings.Join(c.lvs, "=")) }

type recHistogram struct{ n *int }

func (h recHistogram) With(...string) kitmetrics.Histogram { return h }
func (h recHistogram) Observe(float64)                     { *h.n++ }

// Instrument depends only on go-kit's metrics interfaces, so any go-kit
// backend works.
func TestInstrumentWithAnyGoKitBackend(t *testing.T) {
	var adds []string
	var observed int
	ep := metrics.Instrument(recCounter{adds: &adds}.With("method", "Create"), recHistogram{n: &observed})(
		func(_ context.Context, req any) (any, error) {
			if req == "dup" {
				return nil, errs.New(errs.Conflict, "dup")
			}
			return nil, nil
		})
	for _, req := range []string{"ok", "dup", "ok"} {
		_, _ = ep(context.Background(), req)
	}
	want := []string{"method=Create=outcome=success", "method=Create=outcome=conflict", "method=Create=outcome=success"}
	if strings.Join(adds, " ") != strings.Join(want, " ") {
		t.Errorf("adds = %v, want %v", adds, want)
	}
	if observed != 3 {
		t.Errorf("observed %d durations, want 3", observed)
	}
}
