package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// CatalogPageSize is how many products a catalog page shows.
const CatalogPageSize = 12

// maxQueryLen bounds a search; the catalog refuses longer ones.
const maxQueryLen = 100

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQueryLen {
		q = q[:maxQueryLen]
	}
	token := r.URL.Query().Get("page")
	resp, err := s.shop.ListProducts(r.Context(), &productv1.ListProductsRequest{Limit: CatalogPageSize, Q: q, PageToken: token})
	if errs.Is(err, errs.Invalid) && token != "" {
		// A stale or edited page link: start over rather than fail.
		http.Redirect(w, r, "/?q="+urlQuery(q), http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	title := "Catalog"
	if q != "" {
		title = "Search: " + q
	}
	s.render(w, r, http.StatusOK, "catalog", page{Title: title, Data: map[string]any{
		"Query": q, "Products": resp.GetProducts(), "Next": resp.GetNextPageToken(), "PageToken": token,
	}})
}

func (s *Server) product(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.notFound(w, r)
		return
	}
	p, err := s.shop.Product(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "product", page{Title: p.GetName(), Data: map[string]any{"Product": p}})
}

// cartLine is a line of the cart page.
type cartLine struct {
	Line
	Product  *productv1.Product // nil: no longer sold
	Subtotal int64
}

// cartLines returns the visitor's cart: from the database once signed in,
// from the cookie before.
func (s *Server) cartLines(r *http.Request) ([]Line, error) {
	v := visitorFrom(r.Context())
	if v.SignedIn() {
		return s.carts.Lines(r.Context(), v.Identity.UserID)
	}
	return s.sessions.GuestCart(r), nil
}

func (s *Server) cart(w http.ResponseWriter, r *http.Request) {
	s.renderCart(w, r, http.StatusOK, "")
}

func (s *Server) renderCart(w http.ResponseWriter, r *http.Request, status int, problem string) {
	lines, err := s.cartLines(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var (
		out      []cartLine
		total    int64
		currency string
	)
	for _, l := range lines {
		p, err := s.shop.Product(r.Context(), l.ProductID)
		if err != nil && !errs.Is(err, errs.NotFound) {
			s.fail(w, r, err)
			return
		}
		cl := cartLine{Line: l, Product: p}
		if p != nil {
			cl.Subtotal = p.GetPriceMinor() * int64(l.Quantity)
			total += cl.Subtotal
			currency = p.GetCurrency()
		}
		out = append(out, cl)
	}
	s.render(w, r, status, "cart", page{Title: "Your cart", Data: map[string]any{
		"Lines": out, "Total": total, "Currency": currency, "Key": uuid.NewString(), "Error": problem,
	}})
}

// parseLine reads a product and a quantity from a form; quantity may be
// 0 when zeroOK.
func parseLine(r *http.Request, zeroOK bool) (Line, bool) {
	id := r.PostForm.Get("product_id")
	q, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("quantity")))
	if r.PostForm.Get("remove") != "" {
		q, err = 0, nil
	}
	if !validID(id) || err != nil || q < 0 || q == 0 && !zeroOK {
		return Line{}, false
	}
	return Line{ProductID: id, Quantity: min(q, MaxQuantity)}, true
}

func (s *Server) addToCart(w http.ResponseWriter, r *http.Request) {
	l, ok := parseLine(r, false)
	if !ok {
		s.renderError(w, r, http.StatusBadRequest, "That did not work", "Choose a quantity from 1 to 99.")
		return
	}
	if _, err := s.shop.Product(r.Context(), l.ProductID); err != nil {
		s.fail(w, r, err)
		return
	}
	v := visitorFrom(r.Context())
	if v.SignedIn() {
		if err := s.carts.Add(r.Context(), v.Identity.UserID, l); err != nil {
			s.renderCart(w, r, errs.HTTPStatus(errs.KindOf(err)), formMessage(err))
			return
		}
	} else {
		lines, ok := mergeLines(s.sessions.GuestCart(r), l)
		if !ok {
			s.renderCart(w, r, http.StatusBadRequest, "Your cart is full: sign in and check out, or remove something first.")
			return
		}
		s.sessions.SetGuestCart(w, r, lines)
	}
	http.Redirect(w, r, "/cart?m=added", http.StatusSeeOther)
}

func (s *Server) updateCart(w http.ResponseWriter, r *http.Request) {
	l, ok := parseLine(r, true)
	if !ok {
		s.renderCart(w, r, http.StatusBadRequest, "Choose a quantity from 0 to 99.")
		return
	}
	v := visitorFrom(r.Context())
	if v.SignedIn() {
		if err := s.carts.Set(r.Context(), v.Identity.UserID, l); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		var lines []Line
		for _, have := range s.sessions.GuestCart(r) {
			if have.ProductID == l.ProductID {
				have.Quantity = l.Quantity
			}
			if have.Quantity > 0 {
				lines = append(lines, have)
			}
		}
		s.sessions.SetGuestCart(w, r, lines)
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

// mergeLines adds l to lines, refusing a line beyond MaxCartLines.
func mergeLines(lines []Line, adds ...Line) ([]Line, bool) {
	for _, l := range adds {
		found := false
		for i := range lines {
			if lines[i].ProductID == l.ProductID {
				lines[i].Quantity = min(lines[i].Quantity+l.Quantity, MaxQuantity)
				found = true
			}
		}
		if !found {
			if len(lines) >= MaxCartLines {
				return lines, false
			}
			lines = append(lines, l)
		}
	}
	return lines, true
}

// checkout places the order. The form carries an idempotency key made
// when the cart was shown: submitting it twice (a double click, the back
// button, a retry after a timeout) lands on the one order it placed.
func (s *Server) checkout(w http.ResponseWriter, r *http.Request) {
	ctx, v := r.Context(), visitorFrom(r.Context())
	key := r.PostForm.Get("idempotency_key")
	pm := r.PostForm.Get("payment_method")
	if _, err := uuid.Parse(key); err != nil || (pm != "pm_card_visa" && pm != "pm_card_chargeDeclined") {
		s.renderCart(w, r, http.StatusBadRequest, "Choose a payment method and try again.")
		return
	}
	if orderID, err := s.carts.CheckedOut(ctx, v.Identity.UserID, key); err != nil {
		s.fail(w, r, err)
		return
	} else if orderID != "" {
		http.Redirect(w, r, "/orders/"+orderID, http.StatusSeeOther)
		return
	}
	lines, err := s.carts.Lines(ctx, v.Identity.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(lines) == 0 {
		// A submit of the same form may have checked out between the two
		// reads above: its key and the emptied cart commit together.
		if orderID, err := s.carts.CheckedOut(ctx, v.Identity.UserID, key); err == nil && orderID != "" {
			http.Redirect(w, r, "/orders/"+orderID, http.StatusSeeOther)
			return
		}
		s.renderCart(w, r, http.StatusBadRequest, "Your cart is empty.")
		return
	}
	o, err := s.placeOrder(ctx, v.Identity.UserID, lines, key, pm)
	if err != nil {
		s.renderCart(w, r, errs.HTTPStatus(errs.KindOf(err)), formMessage(err))
		return
	}
	if err := s.carts.CompleteCheckout(ctx, v.Identity.UserID, key, o.GetId()); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/orders/"+o.GetId(), http.StatusSeeOther)
}

// checkoutWait bounds how long a repeated checkout waits for the first
// one, which holds the key, to finish.
const checkoutWait = 5 * time.Second

// placeOrder places the order; while another request with the same key is
// still placing it (the order service's Conflict with a retry hint), it
// waits for that one's order instead of showing an error.
func (s *Server) placeOrder(ctx context.Context, userID string, lines []Line, key, pm string) (*orderv1.Order, error) {
	deadline := time.Now().Add(checkoutWait)
	for {
		o, err := s.shop.PlaceOrder(ctx, lines, key, pm)
		if err == nil || !errs.Is(err, errs.Conflict) || errs.RetryAfterOf(err) == 0 || time.Now().After(deadline) {
			return o, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
		if orderID, cerr := s.carts.CheckedOut(ctx, userID, key); cerr == nil && orderID != "" {
			return s.shop.Order(ctx, orderID)
		}
	}
}

// formMessage is one readable sentence for err, its field errors included.
func formMessage(err error) string {
	f := newForm()
	f.setError(err, nil)
	msgs := []string{}
	if f.Message != "" {
		msgs = append(msgs, f.Message)
	}
	for _, m := range f.Errors {
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, " ")
}

func urlQuery(q string) string { return url.QueryEscape(q) }
