package local_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	local "github.com/kitshop/kitshop/deploy/local"
)

// TestStorefront runs the real stack with the storefront (web) and drives
// it in Debian's headless chromium through the gateway, as a shopper and an
// admin would: a guest cart that survives the sign-up, search, checkout with
// a card that pays and one that is declined, the notification, a cancel that
// gives the stock back, the back button after paying, and the admin's new
// product in the catalog. Then what a careful shop refuses, with a plain
// HTTP client: a double submit of the checkout (one order), a form without
// its CSRF token or from another origin (403), a customer on the admin pages
// (403). Screenshots of each step go to $KITSHOP_ARTIFACTS (default: a
// directory under the system's temporary one, named in the log).
func TestStorefront(t *testing.T) {
	chromium := findChromium(t)
	cfg := local.DefaultConfig().WithFreePorts()
	cfg.TempPostgres = true
	cfg.RunDir = t.TempDir()
	cfg.AdminPassword = "web-Admin-" + randomHex(t, 8)
	cfg.ServiceSecret = "web-service-" + randomHex(t, 12)
	cfg.BinDir = buildBinaries(t, cfg.Services)
	stack := startStack(t, cfg)
	base := stack.GatewayURL()
	shots := artifactsDir(t)

	// Two products of the test's own, with a word to find them by.
	word := "zq" + strings.ToLower(randomHex(t, 4))
	admin := apiLogin(t, base, cfg.AdminEmail, cfg.AdminPassword)
	mug := apiCreateProduct(t, base, admin, word+"-MUG", "Glazed mug "+word, 1250, 10)
	pot := apiCreateProduct(t, base, admin, word+"-POT", "Pour-over pot "+word, 3400, 10)

	ctx := newBrowser(t, chromium)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg) // 100: PNG
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	email, password := "shopper-"+strings.ToLower(randomHex(t, 5))+"@example.com", "pw-"+randomHex(t, 10)

	t.Run("guest cart survives sign-up", func(t *testing.T) {
		run(t, ctx,
			chromedp.Navigate(base+"/?q="+word), chromedp.WaitVisible(`.grid`), shot("01-catalog"),
			chromedp.Click(`a[href="/products/`+mug+`"]`), chromedp.WaitVisible(`#qty`), shot("02-product"),
			chromedp.Click(`form[action="/cart/add"] button`), chromedp.WaitVisible(`form[action="/cart/update"]`),
			chromedp.Navigate(base+"/signup"), chromedp.WaitVisible(`#f-email`),
			chromedp.SendKeys(`#f-name`, "Ada Shopper"), chromedp.SendKeys(`#f-email`, email), chromedp.SendKeys(`#f-password`, password),
			shot("03-signup"), chromedp.Click(`main form button[type=submit]`), chromedp.WaitVisible(`.notice.ok`),
		)
		wantText(t, ctx, "main", "The items you added as a guest are in your cart")
		run(t, ctx, chromedp.Navigate(base+"/cart"), chromedp.WaitVisible(`table`))
		wantText(t, ctx, "main", "Glazed mug "+word)
	})

	var orderURL string
	t.Run("search, two products, pay, notification, cancel, stock back", func(t *testing.T) {
		run(t, ctx,
			chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#q`),
			chromedp.SendKeys(`#q`, "pour-over pot "+word), chromedp.Submit(`#q`), chromedp.WaitVisible(`a[href="/products/`+pot+`"]`),
			chromedp.Click(`a[href="/products/`+pot+`"]`), chromedp.WaitVisible(`#qty`),
			chromedp.SetValue(`#qty`, "2"), chromedp.Click(`form[action="/cart/add"] button`), chromedp.WaitVisible(`form[action="/checkout"]`),
			shot("04-cart"),
			chromedp.Click(`input[value="pm_card_visa"]`), chromedp.Click(`form[action="/checkout"] button`),
			chromedp.WaitVisible(`#order-status`),
		)
		if got := apiStock(t, base, pot); got != 8 {
			t.Errorf("pot stock after the order = %d, want 8", got)
		}
		waitText(t, ctx, "#order-status", "Paid")
		orderURL = location(t, ctx)
		run(t, ctx, shot("05-order-paid"))
		// The back button to the cart after paying: asked again (no-store),
		// it is empty.
		back(t, ctx, "/cart", "Your cart is empty")

		for deadline := time.Now().Add(20 * time.Second); ; {
			run(t, ctx, chromedp.Navigate(base+"/notifications"), chromedp.WaitVisible(`main h1`))
			text := textOf(t, ctx, "main")
			if strings.Contains(strings.ToLower(text), "paid") || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		wantText(t, ctx, ".site nav", "Notifications")
		run(t, ctx, shot("06-notifications"))
		wantText(t, ctx, ".notes", "paid") // "Order … paid": the payment's notification

		run(t, ctx, chromedp.Navigate(orderURL), chromedp.WaitVisible(`form[action$="/cancel"]`),
			// The browser's confirm() is the shopper's; the test answers yes.
			chromedp.RemoveAttribute(`form[action$="/cancel"]`, "data-confirm"),
			chromedp.Click(`form[action$="/cancel"] button`), chromedp.WaitVisible(`.notice.ok`))
		waitText(t, ctx, "#order-status", "Cancelled")
		run(t, ctx, shot("07-order-cancelled"))
		if got := apiStock(t, base, pot); got != 10 {
			t.Errorf("pot stock after the cancel = %d, want 10", got)
		}
		if got := apiStock(t, base, mug); got != 10 {
			t.Errorf("mug stock after the cancel = %d, want 10", got)
		}
	})

	t.Run("declined payment", func(t *testing.T) {
		run(t, ctx,
			chromedp.Navigate(base+"/products/"+mug), chromedp.WaitVisible(`#qty`),
			chromedp.SetValue(`#qty`, "3"), chromedp.Click(`form[action="/cart/add"] button`), chromedp.WaitVisible(`form[action="/checkout"]`),
			chromedp.Click(`input[value="pm_card_chargeDeclined"]`), chromedp.Click(`form[action="/checkout"] button`),
			chromedp.WaitVisible(`#order-status`),
		)
		waitText(t, ctx, "#order-status", "payment declined")
		wantText(t, ctx, "main", "Your card was declined")
		run(t, ctx, shot("08-order-declined"))
		if got := apiStock(t, base, mug); got != 10 {
			t.Errorf("mug stock after the declined payment = %d, want 10", got)
		}
	})

	t.Run("admin creates a product", func(t *testing.T) {
		actx := newBrowser(t, chromium)
		sku := word + "-NEW"
		run(t, actx,
			chromedp.Navigate(base+"/signin?next=/admin/products/new"), chromedp.WaitVisible(`#f-email`),
			chromedp.SendKeys(`#f-email`, cfg.AdminEmail), chromedp.SendKeys(`#f-password`, cfg.AdminPassword),
			chromedp.Click(`main form button[type=submit]`), chromedp.WaitVisible(`#f-sku`),
			// A bad price first: the error shows next to its field.
			chromedp.SendKeys(`#f-sku`, sku), chromedp.SendKeys(`#f-name`, "Walnut tray "+word),
			chromedp.SendKeys(`#f-price`, "twelve"), chromedp.Click(`main form button[type=submit]`),
			chromedp.WaitVisible(`#f-price[aria-invalid=true]`), shot("09-admin-error"),
		)
		wantText(t, actx, ".field.invalid", "Enter a price")
		run(t, actx, chromedp.SetValue(`#f-price`, "24.50"), chromedp.SetValue(`#f-stock`, "7"),
			chromedp.Click(`main form button[type=submit]`), chromedp.WaitVisible(`.product`),
			chromedp.Navigate(base+"/?q="+url.QueryEscape("walnut tray "+word)), chromedp.WaitVisible(`.grid`), shot("10-admin-product-in-catalog"))
		wantText(t, actx, ".grid", "Walnut tray "+word)
		wantText(t, actx, ".grid", "€24.50")
	})

	t.Run("careful shop", func(t *testing.T) {
		c := newFormClient(t, base)
		c.signIn(t, email, password)
		before := apiStock(t, base, mug)
		c.post(t, "/cart/add", url.Values{"product_id": {mug}, "quantity": {"1"}}, http.StatusSeeOther)
		body := c.get(t, "/cart", http.StatusOK)
		key := formValue(t, body, "idempotency_key")
		// A double submit: two requests with one key, at once.
		var wg sync.WaitGroup
		locs := make([]string, 2)
		for i := range locs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				locs[i] = c.postLocation(t, "/checkout", url.Values{"idempotency_key": {key}, "payment_method": {"pm_card_visa"}})
			}()
		}
		wg.Wait()
		if locs[0] != locs[1] || !strings.HasPrefix(locs[0], "/orders/") {
			t.Errorf("double submit went to %q and %q, want one order", locs[0], locs[1])
		}
		if got := apiStock(t, base, mug); got != before-1 {
			t.Errorf("mug stock after a double submit of one = %d, want %d (one order)", got, before-1)
		}
		// The same form again later (the back button and resubmit): the same order.
		if again := c.postLocation(t, "/checkout", url.Values{"idempotency_key": {key}, "payment_method": {"pm_card_visa"}}); again != locs[0] {
			t.Errorf("resubmitted checkout went to %q, want %q", again, locs[0])
		}

		// Forged forms: without the token, with another's, from another origin.
		c.postRaw(t, "/cart/add", url.Values{"product_id": {mug}, "quantity": {"1"}}, nil, http.StatusForbidden)
		c.postRaw(t, "/cart/add", url.Values{"product_id": {mug}, "quantity": {"1"}, "csrf": {"forged"}}, nil, http.StatusForbidden)
		c.post(t, "/cart/add", url.Values{"product_id": {mug}, "quantity": {"1"}}, http.StatusForbidden,
			"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")

		// A customer on the admin pages; a guest is sent to sign in.
		c.get(t, "/admin/products", http.StatusForbidden)
		c.post(t, "/admin/products/"+mug+"/delete", url.Values{}, http.StatusForbidden)
		if got := apiStock(t, base, mug); got != before-1 {
			t.Errorf("a customer's delete changed the mug: stock %d, want %d", got, before-1)
		}
		guest := newFormClient(t, base)
		if loc := guest.getLocation(t, "/admin/products"); !strings.HasPrefix(loc, "/signin") {
			t.Errorf("a guest on /admin/products went to %q, want /signin", loc)
		}
		// An API path nobody serves stays a JSON 404, not a page.
		resp, err := http.Get(base + "/api/v1/nothing")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
			t.Errorf("/api/v1/nothing: %d %s, want a 404 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Logf("screenshots in %s", shots)
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: run `make deps` (deps-chromium installs Debian's chromium)")
	return ""
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KITSHOP_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "kitshop-artifacts")
	}
	dir = filepath.Join(dir, "storefront")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts a headless chromium with a fresh profile.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		text, _ := chromedp.Run(dctx, chromedp.Text(`body`))
		if buf, err := chromedp.Run(dctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(artifactsDir(t), "failed.png"), buf, 0o644)
		}
		t.Fatalf("browser: %v\nat %s:\n%.1500s", err, loc, text)
	}
}

// back goes back in the tab's history to the last entry at path, as the
// back button does, and waits for its main content to say want. The
// browser may restore the page from its back/forward cache first (the
// shop's script then reloads it), so the page is read by script.
func back(t *testing.T, ctx context.Context, path, want string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	hist, err := chromedp.Run(tctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for i := int(hist.CurrentIndex) - 1; i >= 0; i-- {
		if u, err := url.Parse(hist.Entries[i].URL); err == nil && u.Path == path {
			steps = int(hist.CurrentIndex) - i
			break
		}
	}
	if steps == 0 {
		t.Fatalf("no %s in the history", path)
	}
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](fmt.Sprintf("history.go(-%d), true", steps))); err != nil {
		t.Fatal(err)
	}
	var text string
	for tctx.Err() == nil {
		loc, _ := chromedp.Run(tctx, chromedp.Location())
		text, _ = chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText : ""`))
		if u, _ := url.Parse(loc); u != nil && u.Path == path && strings.Contains(text, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("back at %s, the page says %.600q, want %q", path, text, want)
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	text, err := chromedp.Run(tctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return text
}

func wantText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	text := textOf(t, ctx, sel)
	if !strings.Contains(text, want) {
		t.Errorf("%s says %.600q, want %q in it", sel, text, want)
	}
}

// waitText waits for the page (which reloads itself) to show want in sel.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	var text string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := chromedp.Do(tctx, chromedp.WaitVisible(sel))
		if err == nil {
			text, err = chromedp.Run(tctx, chromedp.Text(sel))
		}
		cancel()
		if err == nil && strings.Contains(strings.ToLower(text), strings.ToLower(want)) {
			return
		}
	}
	t.Fatalf("%s says %q after 30s, want %q", sel, text, want)
}

// The API, for the test's own setup and checks.
