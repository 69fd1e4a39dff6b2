package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fixtures kitbench creates through the gateway. They are idempotent: a
// second run finds them and resets the stock.
const (
	benchSKU        = "BENCH-HOT-1"
	benchStock      = 1_000_000_000 // product.MaxStock: orders never run it out
	benchUserEmail  = "kitbench@kitshop.local"
	benchUserPass   = "kitbench-customer-pw"
	benchUserName   = "kitbench"
	tokenMaxAge     = 5 * time.Minute // access tokens live 15 minutes by default
	setupCallTimout = 10 * time.Second
)

// api calls the kitshop HTTP API through the gateway.
type api struct {
	base   string
	client *http.Client
}

// call sends a JSON request and decodes a JSON answer into out (when not
// nil and the status is 2xx). It returns the status; a transport failure is
// an error, a status is not.
func (a api) call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, setupCallTimout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// statusError describes an unexpected status.
func statusError(what string, status int) error {
	return fmt.Errorf("%s: unexpected status %d %s", what, status, http.StatusText(status))
}

// login returns an access token for email and password.
func (a api) login(ctx context.Context, email, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	status, err := a.call(ctx, http.MethodPost, "/api/v1/auth/login", "",
		map[string]string{"email": email, "password": password}, &tok)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || tok.AccessToken == "" {
		return "", statusError("log in as "+email, status)
	}
	return tok.AccessToken, nil
}

// ensureCustomer signs the bench customer up unless the account exists.
func (a api) ensureCustomer(ctx context.Context) error {
	status, err := a.call(ctx, http.MethodPost, "/api/v1/users", "",
		map[string]string{"email": benchUserEmail, "password": benchUserPass, "name": benchUserName}, nil)
	if err != nil {
		return err
	}
	// 202 whether or not the account existed (the API does not tell).
	if status != http.StatusAccepted {
		return statusError("sign up "+benchUserEmail, status)
	}
	return nil
}

// ensureProduct creates the bench product as admin, or finds it, and sets
// its stock to benchStock either way; it returns the product's id.
func (a api) ensureProduct(ctx context.Context, adminToken string) (string, error) {
	return a.ensureProductSKU(ctx, adminToken, benchSKU, "kitbench hot product")
}

// ensureProductSKU creates the product sku as admin, or finds it, and sets
// its stock to benchStock either way; it returns the product's id.
func (a api) ensureProductSKU(ctx context.Context, adminToken, sku, name string) (string, error) {
	var p struct {
		ID string `json:"id"`
	}
	status, err := a.call(ctx, http.MethodPost, "/api/v1/products", adminToken, map[string]any{
		"sku":         sku,
		"name":        name,
		"description": "Created by kitbench (bench/cmd/kitbench) to read and order.",
		"price_minor": 100,
		"currency":    "EUR",
		"stock":       benchStock,
	}, &p)
	if err != nil {
		return "", err
	}
	switch status {
	case http.StatusCreated:
		return p.ID, nil
	case http.StatusConflict:
	default:
		return "", statusError("create the bench product "+sku, status)
	}
	id, err := a.findProduct(ctx, sku)
	if err != nil {
		return "", err
	}
	status, err = a.call(ctx, http.MethodPatch, "/api/v1/products/"+url.PathEscape(id), adminToken,
		map[string]any{"stock": benchStock}, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", statusError("reset the stock of bench product "+sku, status)
	}
	return id, nil
}

// Products of the distinct-products order row.
const (
	manySKUPrefix = "BENCH-MANY-"
	manyProducts  = 1000
)

// ensureProducts creates (or finds) n products with ample stock, SKUs
// manySKUPrefix0000 up, a few at a time, and returns their ids.
func (a api) ensureProducts(ctx context.Context, adminToken string, n int) ([]string, error) {
	ids := make([]string, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sku := fmt.Sprintf("%s%04d", manySKUPrefix, i)
				id, err := a.ensureProductSKU(ctx, adminToken, sku, "kitbench product "+sku)
				if err != nil {
					errs <- err
					continue
				}
				ids[i] = id
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ids, nil
}

// findProduct returns the id of the product with the given SKU.
func (a api) findProduct(ctx context.Context, sku string) (string, error) {
	var page struct {
		Products []struct {
			ID  string `json:"id"`
			SKU string `json:"sku"`
		} `json:"products"`
	}
	status, err := a.call(ctx, http.MethodGet, "/api/v1/products?limit=10&q="+url.QueryEscape(sku), "", nil, &page)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", statusError("find product "+sku, status)
	}
	for _, p := range page.Products {
		if p.SKU == sku {
			return p.ID, nil
		}
	}
	return "", fmt.Errorf("product %s: exists (409 on create) but not found in the list", sku)
}

// firstProduct returns the id of the first product of the catalog, for when
// kitbench cannot create its own (no admin).
func (a api) firstProduct(ctx context.Context) (string, error) {
	var page struct {
		Products []struct {
			ID string `json:"id"`
		} `json:"products"`
	}
	status, err := a.call(ctx, http.MethodGet, "/api/v1/products?limit=1", "", nil, &page)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", statusError("list products", status)
	}
	if len(page.Products) == 0 {
		return "", errors.New("the catalog is empty")
	}
	return page.Products[0].ID, nil
}

// get returns the status and body of a GET of an absolute URL.
func (a api) get(ctx context.Context, rawURL string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, setupCallTimout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, body, err
}

// send makes one request like the ones a target repeats and returns its
// status line, for a note on why requests failed.
func (a api) send(ctx context.Context, method, rawURL string, headers map[string]string, body string) string {
	ctx, cancel := context.WithTimeout(ctx, setupCallTimout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	s := resp.Status
	if resp.StatusCode >= 400 {
		// problem+json's detail says why; bodies of errors hold no secrets.
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(msg, &p) == nil && p.Detail != "" {
			s += ": " + p.Detail
		}
	}
	return s
}

// rateLimitedAfter sends up to n cheap GETs back to back and returns how
// many went through before the first 429, or -1 if none was limited. A
// running stack's gateway limits each client IP (100/s, burst 200, by
// default), which would turn most of a benchmark into 429s.
func (a api) rateLimitedAfter(ctx context.Context, n int) int {
	for i := range n {
		status, err := a.call(ctx, http.MethodGet, "/api/v1/products?limit=1", "", nil, nil)
		if err != nil {
			return -1
		}
		if status == http.StatusTooManyRequests {
			return i
		}
	}
	return -1
}

// tokenCache keeps an access token for up to tokenMaxAge, so long runs
// never send an expired one.
type tokenCache struct {
	login func(ctx context.Context) (string, error)

	mu    sync.Mutex
	token string
	at    time.Time
}

// get returns a fresh enough token, logging in again when needed.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Since(c.at) < tokenMaxAge {
		return c.token, nil
	}
	tok, err := c.login(ctx)
	if err != nil {
		return "", err
	}
	c.token, c.at = tok, time.Now()
	return tok, nil
}
