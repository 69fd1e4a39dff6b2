package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// productFormFields are the product form's inputs.
var productFormFields = []string{"sku", "name", "description", "price", "currency", "stock"}

// productFields maps the product service's field names to the form's.
var productFields = map[string]string{"price_minor": "price"}

func (s *Server) adminProducts(w http.ResponseWriter, r *http.Request) {
	resp, err := s.shop.ListProducts(r.Context(), &productv1.ListProductsRequest{Limit: 50, PageToken: r.URL.Query().Get("page")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_products", page{Title: "Products", Data: map[string]any{
		"Products": resp.GetProducts(), "Next": resp.GetNextPageToken(),
	}})
}

func (s *Server) newProductPage(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	f.Values["currency"], f.Values["stock"] = "EUR", "0"
	s.renderProductForm(w, r, http.StatusOK, "", f)
}

func (s *Server) editProductPage(w http.ResponseWriter, r *http.Request) {
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
	f := newForm()
	f.Values = map[string]string{"sku": p.GetSku(), "name": p.GetName(), "description": p.GetDescription(),
		"price": fmt.Sprintf("%d.%02d", p.GetPriceMinor()/100, p.GetPriceMinor()%100), "currency": p.GetCurrency(),
		"stock": strconv.FormatInt(p.GetStock(), 10)}
	for _, k := range productFormFields {
		f.Values["was_"+k] = f.Values[k]
	}
	s.renderProductForm(w, r, http.StatusOK, id, f)
}

func (s *Server) renderProductForm(w http.ResponseWriter, r *http.Request, status int, id string, f Form) {
	title := "New product"
	if id != "" {
		title = "Edit product"
	}
	s.render(w, r, status, "admin_product_form", page{Title: title, Data: map[string]any{"ID": id, "Form": f}})
}

// productForm reads the form; the numbers it cannot read are field errors,
// the rest is the product service's to check.
func productForm(r *http.Request) (Form, int64, int64) {
	f := newForm()
	for _, k := range productFormFields {
		f.Values[k] = strings.TrimSpace(r.PostForm.Get(k))
		f.Values["was_"+k] = r.PostForm.Get("was_" + k)
	}
	f.Values["currency"] = strings.ToUpper(f.Values["currency"])
	price, ok := parsePrice(f.Values["price"])
	if !ok {
		f.Errors["price"] = "Enter a price such as 12.50."
	}
	stock, err := strconv.ParseInt(f.Values["stock"], 10, 64)
	if err != nil || stock < 0 {
		f.Errors["stock"] = "Enter a whole number, 0 or more."
	}
	return f, price, stock
}

// parsePrice reads "12", "12.5" or "12.50" as minor units.
func parsePrice(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/100-1 {
		return 0, false
	}
	var c int64
	if frac != "" {
		if c, err = strconv.ParseInt((frac + "0")[:2], 10, 64); err != nil || strings.HasPrefix(frac, "-") || strings.HasPrefix(frac, "+") {
			return 0, false
		}
	}
	return w*100 + c, true
}

func (s *Server) createProduct(w http.ResponseWriter, r *http.Request) {
	f, price, stock := productForm(r)
	if len(f.Errors) > 0 {
		s.renderProductForm(w, r, http.StatusBadRequest, "", f)
		return
	}
	p, err := s.shop.CreateProduct(r.Context(), &productv1.CreateProductRequest{Sku: f.Values["sku"], Name: f.Values["name"],
		Description: f.Values["description"], PriceMinor: price, Currency: f.Values["currency"], Stock: stock})
	if err != nil {
		f.setError(err, productFields)
		s.renderProductForm(w, r, errs.HTTPStatus(errs.KindOf(err)), "", f)
		return
	}
	http.Redirect(w, r, "/products/"+p.GetId()+"?m=saved", http.StatusSeeOther)
}

func (s *Server) updateProduct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.notFound(w, r)
		return
	}
	f, price, stock := productForm(r)
	if len(f.Errors) > 0 {
		s.renderProductForm(w, r, http.StatusBadRequest, id, f)
		return
	}
	// Only what the admin changed is sent: stock in particular moves with
	// every order, and writing back the number the form showed would undo
	// the reservations made since.
	v := f.Values
	changed := func(k string) bool { return v[k] != v["was_"+k] }
	req := &productv1.UpdateProductRequest{Id: id}
	if changed("sku") {
		req.Sku = ptr(v["sku"])
	}
	if changed("name") {
		req.Name = ptr(v["name"])
	}
	if changed("description") {
		req.Description = ptr(v["description"])
	}
	if changed("price") {
		req.PriceMinor = ptr(price)
	}
	if changed("currency") {
		req.Currency = ptr(v["currency"])
	}
	if changed("stock") {
		req.Stock = ptr(stock)
	}
	_, err := s.shop.UpdateProduct(r.Context(), req)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			s.fail(w, r, err)
			return
		}
		f.setError(err, productFields)
		s.renderProductForm(w, r, errs.HTTPStatus(errs.KindOf(err)), id, f)
		return
	}
	http.Redirect(w, r, "/products/"+id+"?m=saved", http.StatusSeeOther)
}

func (s *Server) deleteProduct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.notFound(w, r)
		return
	}
	if err := s.shop.DeleteProduct(r.Context(), id); err != nil && !errs.Is(err, errs.NotFound) {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/products?m=deleted", http.StatusSeeOther)
}

func ptr[T any](v T) *T { return &v }
