package payment_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/payment"
)

// newHTTPServer serves the real service on a fresh database, with request
// ids as in production, verifying tokens of the returned callers' signer,
// and returns a succeeded payment of an order of who.ownerID.
func newHTTPServer(t *testing.T) (*httptest.Server, callers, payment.Payment) {
	t.Helper()
	who := newCallers(t)
	f := newFixture(t)
	h := payment.NewHTTPHandler(payment.NewEndpoints(f.svc, who.signer.Verifier()), log.NewNopLogger())
	srv := httptest.NewServer(requestid.HTTPMiddleware(h))
	t.Cleanup(srv.Close)
	o := newOrder(payment.TestCardDeclined)
	o.UserID = who.ownerID
	r, err := f.svc.OrderConfirmed(context.Background(), event(o))
	if err != nil {
		t.Fatal(err)
	}
	return srv, who, r.Payment
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// get makes a GET request as the caller of token ("" for an anonymous one).
func get(t *testing.T, token, url string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// decodeProblem checks that r is a problem document for status and returns
// it.
func decodeProblem(t *testing.T, r httpResult, wantStatus int) httpx.Problem {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, httpx.ProblemContentType)
	}
	var p httpx.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != wantStatus || p.Kind == "" || p.Type != "urn:kitshop:problem:"+p.Kind {
		t.Errorf("malformed problem %+v", p)
	}
	if p.RequestID == "" || p.RequestID != r.header.Get(requestid.Header) {
		t.Errorf("problem request_id %q, response header %q", p.RequestID, r.header.Get(requestid.Header))
	}
	return p
}

func TestHTTPListPayments(t *testing.T) {
	srv, who, paid := newHTTPServer(t)
	url := srv.URL + payment.CollectionPath + "?order_id=" + paid.OrderID

	for name, token := range map[string]string{"owner": who.owner, "admin": who.admin} {
		t.Run(name, func(t *testing.T) {
			r := get(t, token, url)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, Content-Type %q; body %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			// Exactly the documented members, and no user id.
			var raw struct {
				Payments []map[string]any `json:"payments"`
			}
			if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Payments) != 1 {
				t.Fatalf("body %s: %v", r.body, err)
			}
			want := []string{"id", "order_id", "status", "amount_minor", "currency", "method", "decline_code", "message", "created_at", "updated_at"}
			if len(raw.Payments[0]) != len(want) {
				t.Errorf("members %v, want %v", raw.Payments[0], want)
			}
			for _, k := range want {
				if _, ok := raw.Payments[0][k]; !ok {
					t.Errorf("payment lacks %s: %s", k, r.body)
				}
			}
			var got payment.ListResponse
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			p := got.Payments[0]
			if p.ID != paid.ID || p.OrderID != paid.OrderID || p.Status != payment.StatusFailed || p.AmountMinor != 2500 ||
				p.Currency != "EUR" || p.Method != payment.TestCardDeclined || p.DeclineCode != "card_declined" ||
				p.Message != "Your card was declined." || !p.CreatedAt.Equal(paid.CreatedAt) || !p.UpdatedAt.Equal(paid.UpdatedAt) {
				t.Errorf("payment %+v, want %+v", p, paid)
			}
		})
	}
}

// TestHTTPListPaymentsErrors: a stranger gets exactly the answer of an
// order without a payment, so nothing leaks.
func TestHTTPListPaymentsErrors(t *testing.T) {
	srv, who, paid := newHTTPServer(t)
	base := srv.URL + payment.CollectionPath
	tests := []struct {
		name, token, query string
		status             int
		field              string // of the 400's field error
	}{
		{"no token", "", "?order_id=" + paid.OrderID, http.StatusUnauthorized, ""},
		{"forged token", "not-a-jwt", "?order_id=" + paid.OrderID, http.StatusUnauthorized, ""},
		{"stranger", who.stranger, "?order_id=" + paid.OrderID, http.StatusNotFound, ""},
		{"unknown order", who.owner, "?order_id=" + uuid.NewString(), http.StatusNotFound, ""},
		{"unknown order as admin", who.admin, "?order_id=" + uuid.NewString(), http.StatusNotFound, ""},
		{"no order_id", who.owner, "", http.StatusBadRequest, "order_id"},
		{"empty order_id", who.owner, "?order_id=", http.StatusBadRequest, "order_id"},
		{"malformed order_id", who.owner, "?order_id=42", http.StatusBadRequest, "order_id"},
		{"order_id twice", who.owner, "?order_id=" + paid.OrderID + "&order_id=" + paid.OrderID, http.StatusBadRequest, "order_id"},
		{"bad escape", who.owner, "?order_id=%zz", http.StatusBadRequest, "order_id"},
	}
	var notFound []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.token, base+tt.query)
			p := decodeProblem(t, r, tt.status)
			switch tt.status {
			case http.StatusUnauthorized:
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without a WWW-Authenticate challenge")
				}
			case http.StatusBadRequest:
				if len(p.Errors) != 1 || p.Errors[0].Field != tt.field {
					t.Errorf("field errors %+v, want one for %s", p.Errors, tt.field)
				}
			case http.StatusNotFound:
				// The same body for a stranger and for no payment, but
				// for the request id.
				p.RequestID = ""
				b, _ := json.Marshal(p)
				if notFound != nil && string(b) != string(notFound) {
					t.Errorf("404 %s differs from %s", b, notFound)
				}
				notFound = b
			}
		})
	}
}
