package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go-kit/kit/sd"
	"github.com/go-kit/log"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
	"github.com/kitshop/kitshop/web"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// shop is the storefront on fake backends and a real database.
type shop struct {
	url      string
	products *fakeProducts
	orders   *fakeOrders
	users    *fakeUsers
	mug      *productv1.Product
}

func newShop(t testing.TB) *shop {
	t.Helper()
	ctx := context.Background()
	signer := authtest.NewSigner(t)
	s := &shop{products: &fakeProducts{}, orders: &fakeOrders{orders: map[string]*orderv1.Order{}, keys: map[string]string{}}}
	s.mug = s.products.add("MUG-1", "Glazed mug", 1250, 4)
	s.products.add("POT-1", "Pour-over pot", 3400, 0)
	backend := func(name string, register func(*grpc.Server)) *web.Backend {
		b := web.NewBackend(name, sd.FixedInstancer{serveGRPC(t, signer.Verifier(), register)}, web.BackendOptions{})
		t.Cleanup(b.Close)
		return b
	}
	users, usersSrv := newFakeUsers(t, signer)
	s.users = users
	accounts := web.NewAccounts(func() []string { return []string{usersSrv.URL} }, nil)
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema, _ := migrations.For("web")
	if err := postgres.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	srv, err := web.NewServer(&web.Shop{
		Products:      backend("product", func(g *grpc.Server) { productv1.RegisterProductServiceServer(g, s.products) }),
		Orders:        backend("order", func(g *grpc.Server) { orderv1.RegisterOrderServiceServer(g, s.orders) }),
		Notifications: backend("notification", func(g *grpc.Server) { notificationv1.RegisterNotificationServiceServer(g, fakeNotifications{}) }),
		Accounts:      accounts,
	}, web.NewCarts(pool), web.NewSessions([]byte(strings.Repeat("k", 32)), signer.Verifier(), accounts, log.NewNopLogger()), log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}

// browser is a client with cookies that does not follow redirects and
// keeps the CSRF token of the last page it read.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (s *shop) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: s.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type page struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(data); m != nil {
		b.csrf = string(m[1])
	}
	return page{resp.StatusCode, string(data), resp.Header}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

// submit posts a form with the CSRF token of the last page read.
func (b *browser) submit(path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	if b.csrf == "" {
		b.get("/signin") // a page with a form, for guests too
	}
	form.Set("csrf", b.csrf)
	return b.do(http.MethodPost, path, form, hdr...)
}

func (p page) want(t *testing.T, status int, texts ...string) {
	t.Helper()
	if p.status != status {
		t.Errorf("status %d, want %d; body:\n%.1500s", p.status, status, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Errorf("page lacks %q:\n%.3000s", s, p.body)
		}
	}
}

func TestPagesRender(t *testing.T) {
	s := newShop(t)
	guest := s.browser(t)
	for _, tt := range []struct {
		path   string
		status int
		texts  []string
	}{
		{"/", http.StatusOK, []string{"Glazed mug", "€12.50", "Only 4 left", "Out of stock", `role="search"`}},
		{"/?q=pot", http.StatusOK, []string{"Pour-over pot", "Results for"}},
		{"/?q=nothing-like-it", http.StatusOK, []string{"No products match"}},
		{"/products/" + s.mug.Id, http.StatusOK, []string{"Glazed mug", "Add to cart", `aria-label="No photo yet: Glazed mug"`, `<label for="qty">`}},
		{"/products/00000000-0000-4000-8000-000000000000", http.StatusNotFound, []string{"Not found"}},
		{"/products/42", http.StatusNotFound, []string{"Not found"}},
		{"/cart", http.StatusOK, []string{"Your cart is empty"}},
		{"/signin", http.StatusOK, []string{`<label for="f-email">Email</label>`, `autocomplete="current-password"`}},
		{"/signup", http.StatusOK, []string{`<label for="f-password">Password</label>`}},
		{"/no/such/page", http.StatusNotFound, []string{"We could not find that page"}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			p := guest.get(tt.path)
			p.want(t, tt.status, tt.texts...)
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") {
				t.Error("inline script or style on the page")
			}
		})
	}
	// Guests are sent to sign in, and back afterwards.
	for _, path := range []string{"/orders", "/notifications", "/account", "/admin/products"} {
		if p := guest.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin?next="+url.QueryEscape(path) {
			t.Errorf("guest on %s: %d to %q", path, p.status, p.header.Get("Location"))
		}
	}
}

func TestStaticAssets(t *testing.T) {
	s := newShop(t)
	p := s.browser(t).get("/")
	m := regexp.MustCompile(`href="(/static/style\.[0-9a-f]{12}\.css)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no fingerprinted stylesheet in the page")
	}
	resp, err := http.Get(s.url + m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d, %q, %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
	if resp, _ := http.Get(s.url + "/static/style.000000000000.css"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown fingerprint: %d, want 404", resp.StatusCode)
	}
}

func TestGuestCartMergesAtSignIn(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.submit("/cart/add", url.Values{"product_id": {s.mug.Id}, "quantity": {"2"}}).want(t, http.StatusSeeOther)
	b.get("/cart").want(t, http.StatusOK, "Glazed mug", "€25.00", "Sign in to check out")

	// An altered cart cookie is an empty cart.
	tampered := s.browser(t)
	u, _ := url.Parse(s.url)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "ks_cart" {
			// The first character of the payload: a change there changes
			// the bytes that are signed.
			first := "X"
			if c.Value[0] == 'X' {
				first = "Y"
			}
			c.Value = first + c.Value[1:]
		}
		tampered.c.Jar.SetCookies(u, []*http.Cookie{c})
	}
	tampered.get("/cart").want(t, http.StatusOK, "Your cart is empty")

	b.get("/signup")
	p := b.submit("/signup", url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "password": {"secret-pw-1"}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "m=merged") {
		t.Fatalf("sign-up: %d to %q", p.status, p.header.Get("Location"))
	}
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "ks_at" && c.Value == "" {
			t.Error("no access token cookie")
		}
	}
	b.get("/cart").want(t, http.StatusOK, "Glazed mug", "€25.00", "Place order", "pm_card_chargeDeclined")
}

func TestFormErrorsNextToFields(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.get("/signup")
	b.submit("/signup", url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "password": {"short"}}).
		want(t, http.StatusBadRequest, `id="e-password"`, "Must be at least 8 characters.", `value="ada@example.com"`)
	b.get("/signin")
	p := b.submit("/signin", url.Values{"email": {"ada@example.com"}, "password": {"wrong"}})
	p.want(t, http.StatusUnauthorized, "That email and password do not match an account.")
	if strings.Contains(p.body, `"kind"`) || strings.Contains(p.body, "{") {
		t.Error("raw JSON on the page")
	}

	admin := s.browser(t)
	admin.get("/signin")
	admin.submit("/signin", url.Values{"email": {"admin@example.com"}, "password": {"admin-pw-123"}, "next": {"/admin/products"}}).want(t, http.StatusSeeOther)
	admin.get("/admin/products").want(t, http.StatusOK, "Glazed mug", "New product")
	admin.get("/admin/products/new")
	admin.submit("/admin/products", url.Values{"sku": {"X-1"}, "name": {"Tray"}, "price": {"twelve"}, "currency": {"EUR"}, "stock": {"1"}}).
		want(t, http.StatusBadRequest, `id="e-price"`, "Enter a price such as 12.50.")
	admin.submit("/admin/products", url.Values{"sku": {"TAKEN"}, "name": {"Tray"}, "price": {"5"}, "currency": {"EUR"}, "stock": {"1"}}).
		want(t, http.StatusConflict, `id="e-sku"`, "Already taken.")
	p = admin.submit("/admin/products", url.Values{"sku": {"TRAY-1"}, "name": {"Walnut tray"}, "price": {"24.5"}, "currency": {"eur"}, "stock": {"7"}})
	p.want(t, http.StatusSeeOther)
	admin.get("/?q=walnut").want(t, http.StatusOK, "Walnut tray", "€24.50")
}

func TestCheckoutIsIdempotent(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.get("/signup")
	b.submit("/signup", url.Values{"name": {"Bo"}, "email": {"bo@example.com"}, "password": {"secret-pw-2"}}).want(t, http.StatusSeeOther)
	b.submit("/cart/add", url.Values{"product_id": {s.mug.Id}, "quantity": {"1"}}).want(t, http.StatusSeeOther)
	cart := b.get("/cart")
	key := regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`).FindStringSubmatch(cart.body)
	if key == nil {
		t.Fatalf("no idempotency key in the cart:\n%s", cart.body)
	}
	form := func() url.Values {
		return url.Values{"idempotency_key": {key[1]}, "payment_method": {"pm_card_visa"}}
	}
	var (
		wg   sync.WaitGroup
		locs [3]string
	)
	for i := range locs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := b.submit("/checkout", form())
			locs[i] = p.header.Get("Location")
		}()
	}
	wg.Wait()
	if !strings.HasPrefix(locs[0], "/orders/") || locs[0] != locs[1] || locs[1] != locs[2] {
		t.Fatalf("three submits of one checkout went to %q", locs)
	}
	s.orders.mu.Lock()
	n := len(s.orders.orders)
	s.orders.mu.Unlock()
	if n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
	// Later, the back button and a resubmit: still the one order, and the
	// cart is empty.
	if p := b.submit("/checkout", form()); p.header.Get("Location") != locs[0] {
		t.Errorf("resubmit went to %q", p.header.Get("Location"))
	}
	b.get("/cart").want(t, http.StatusOK, "Your cart is empty")
	order := b.get(locs[0])
	order.want(t, http.StatusOK, "Confirmed, awaiting payment", `http-equiv="refresh"`, "Cancel order")
	if cc := order.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("order page Cache-Control %q, want no-store", cc)
	}
	b.submit(locs[0]+"/cancel", url.Values{}).want(t, http.StatusSeeOther)
	b.get(locs[0]).want(t, http.StatusOK, "Cancelled")
	// Someone else's order is not found.
	other := s.browser(t)
	other.get("/signup")
	other.submit("/signup", url.Values{"name": {"Cy"}, "email": {"cy@example.com"}, "password": {"secret-pw-3"}})
	other.get(locs[0]).want(t, http.StatusNotFound)
}

func TestForgedFormsAndAdminPages(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.get("/signup")
	b.submit("/signup", url.Values{"name": {"Di"}, "email": {"di@example.com"}, "password": {"secret-pw-4"}}).want(t, http.StatusSeeOther)
	add := url.Values{"product_id": {s.mug.Id}, "quantity": {"1"}}
	for _, tt := range []struct {
		name string
		send func() page
	}{
		{"no token", func() page { return b.do(http.MethodPost, "/cart/add", add) }},
		{"another token", func() page {
			return b.do(http.MethodPost, "/cart/add", url.Values{"product_id": add["product_id"], "quantity": {"1"}, "csrf": {"AAAA"}})
		}},
		{"cross-site", func() page {
			return b.submit("/cart/add", url.Values{"product_id": add["product_id"], "quantity": {"1"}}, "Sec-Fetch-Site", "cross-site")
		}},
		{"another origin", func() page {
			return b.submit("/cart/add", url.Values{"product_id": add["product_id"], "quantity": {"1"}}, "Origin", "http://evil.example")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.send().want(t, http.StatusForbidden, "This form has expired")
		})
	}
	// A form over the limit is refused before its token is even read.
	b.submit("/cart/add", url.Values{"product_id": add["product_id"], "quantity": {"1"}, "note": {strings.Repeat("x", 70<<10)}}).
		want(t, http.StatusRequestEntityTooLarge, "That form is too large")
	b.get("/cart").want(t, http.StatusOK, "Your cart is empty")

	// A customer on the admin pages: 403, and nothing deleted.
	b.get("/admin/products").want(t, http.StatusForbidden, "staff only")
	b.submit("/admin/products/"+s.mug.Id+"/delete", url.Values{}).want(t, http.StatusForbidden)
	b.get("/products/"+s.mug.Id).want(t, http.StatusOK, "Glazed mug")
}

// TestSessionRefresh: an access token that no longer verifies is replaced
// with the refresh cookie's, without the shopper noticing; a refused
// refresh token signs the shopper out.
func TestSessionRefresh(t *testing.T) {
	s := newShop(t)
	b := s.browser(t)
	b.get("/signup")
	b.submit("/signup", url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "password": {"secret-pw-5"}}).want(t, http.StatusSeeOther)
	u, _ := url.Parse(s.url)
	setCookie := func(name, value string) {
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == name {
				b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
				return
			}
		}
		t.Fatalf("no %s cookie", name)
	}
	setCookie("ks_at", "expired.or.forged")
	b.get("/orders").want(t, http.StatusOK, "Your orders")
	if s.users.refreshCount() != 1 {
		t.Errorf("%d refreshes, want 1", s.users.refreshCount())
	}
	b.get("/orders").want(t, http.StatusOK, "Your orders")
	if s.users.refreshCount() != 1 {
		t.Errorf("%d refreshes after the new token was set, want still 1", s.users.refreshCount())
	}
	setCookie("ks_at", "expired.or.forged")
	setCookie("ks_rt", "revoked")
	if p := b.get("/orders"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin") {
		t.Errorf("with a refused refresh token: %d to %q, want the sign-in page", p.status, p.header.Get("Location"))
	}
}

// TestEditProductSendsChangesOnly: the edit form shows a stock that orders
// keep changing; saving another field must not write the old number back.
func TestEditProductSendsChangesOnly(t *testing.T) {
	s := newShop(t)
	admin := s.browser(t)
	admin.get("/signin")
	admin.submit("/signin", url.Values{"email": {"admin@example.com"}, "password": {"admin-pw-123"}}).want(t, http.StatusSeeOther)
	form := admin.get("/admin/products/" + s.mug.Id + "/edit")
	form.want(t, http.StatusOK, `name="was_stock" value="4"`, `value="12.50"`)
	values := url.Values{}
	for _, m := range regexp.MustCompile(`name="([a-z_]+)" (?:type="[a-z]+" )?value="([^"]*)"`).FindAllStringSubmatch(form.body, -1) {
		if m[1] != "csrf" && m[1] != "q" {
			values.Set(m[1], m[2])
		}
	}
	values.Set("description", "")
	values.Set("name", "Glazed mug, large")
	s.products.setStock(s.mug.Id, 1) // an order meanwhile
	admin.submit("/admin/products/"+s.mug.Id, values).want(t, http.StatusSeeOther)
	admin.get("/products/"+s.mug.Id).want(t, http.StatusOK, "Glazed mug, large", "Only 1 left")

	// A change of the stock itself is sent.
	values.Set("name", "Glazed mug, large")
	values.Set("was_name", "Glazed mug, large")
	values.Set("stock", "9")
	admin.submit("/admin/products/"+s.mug.Id, values).want(t, http.StatusSeeOther)
	admin.get("/products/"+s.mug.Id).want(t, http.StatusOK, "In stock (9)")
}
