package notification_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/notification"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

// httpFixture is the real service behind its HTTP handler on a fresh
// database, with ada's 3 order notifications and welcome, and bob's one.
type httpFixture struct {
	srv *httptest.Server
	who callers
}

func newHTTPFixture(t *testing.T) httpFixture {
	t.Helper()
	who := newCallers(t)
	store, _ := newStore(t)
	h := newHandler(t, store)
	if err := h.Handle(t.Context(), message(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: who.ada, Email: sampleEmail, Name: "Ada"})); err != nil {
		t.Fatal(err)
	}
	seed(t, h, who.ada, 3)
	seed(t, h, who.bob, 1)
	eps := notification.NewEndpoints(notification.NewService(store), who.signer.Verifier())
	srv := httptest.NewServer(requestid.HTTPMiddleware(notification.NewHTTPHandler(eps, log.NewNopLogger())))
	t.Cleanup(srv.Close)
	return httpFixture{srv: srv, who: who}
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// do makes one request as the caller of token ("" for an anonymous one).
func (f httpFixture) do(t *testing.T, token, method, path string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// decodeAs decodes r's JSON body after checking its status.
func decodeAs[T any](t *testing.T, r httpResult, wantStatus int) T {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return v
}

// listBody is the JSON of a list, with each notification as a map, so that
// the test sees the wire format (nulls included).
type listBody struct {
	Notifications []map[string]any `json:"notifications"`
	UnreadCount   *int64           `json:"unread_count"`
	NextPageToken string           `json:"next_page_token"`
}

// decodeProblem checks that r is a problem document for status and returns
// it.
func decodeProblem(t *testing.T, r httpResult, wantStatus int) httpx.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, httpx.ProblemContentType)
	}
	p := decodeAs[httpx.Problem](t, r, wantStatus)
	if p.Status != wantStatus || p.Kind == "" || p.RequestID == "" || p.RequestID != r.header.Get(requestid.Header) {
		t.Errorf("malformed problem %+v", p)
	}
	return p
}

func TestHTTPListAndMarkRead(t *testing.T) {
	f := newHTTPFixture(t)
	ada := f.who.customer

	// Page by page, newest first: the welcome came first, so it is last.
	var all []map[string]any
	path := notification.CollectionPath + "?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		page := decodeAs[listBody](t, f.do(t, ada, http.MethodGet, path), http.StatusOK)
		if page.UnreadCount == nil || *page.UnreadCount != 4 {
			t.Errorf("unread_count = %v, want 4", page.UnreadCount)
		}
		all = append(all, page.Notifications...)
		path = ""
		if page.NextPageToken != "" {
			path = notification.CollectionPath + "?limit=2&page_token=" + url.QueryEscape(page.NextPageToken)
		}
	}
	if len(all) != 4 {
		t.Fatalf("listed %d notifications, want 4", len(all))
	}
	wantKeys := []string{"body", "created_at", "id", "kind", "order_id", "read", "read_at", "title"}
	for i, n := range all {
		var keys []string
		for k := range n {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("notification %d has keys %v, want %v", i, keys, wantKeys)
		}
		if n["read"] != false || n["read_at"] != nil {
			t.Errorf("notification %d: read %v, read_at %v", i, n["read"], n["read_at"])
		}
	}
	welcome := all[3]
	if welcome["kind"] != "welcome" || welcome["order_id"] != nil || welcome["title"] != "Welcome to kitshop, Ada" {
		t.Errorf("oldest = %v, want the welcome without an order", welcome)
	}
	if all[0]["kind"] != "order_paid" || all[0]["order_id"] == nil {
		t.Errorf("newest = %v, want an order paid", all[0])
	}

	// Mark one read, twice: the same answer.
	id := all[0]["id"].(string)
	read := decodeAs[notification.NotificationJSON](t, f.do(t, ada, http.MethodPost, "/api/v1/notifications/"+id+"/read"), http.StatusOK)
	if !read.Read || read.ReadAt == nil || read.ID != id || time.Since(*read.ReadAt) > time.Minute {
		t.Errorf("marked read: %+v", read)
	}
	again := decodeAs[notification.NotificationJSON](t, f.do(t, ada, http.MethodPost, "/api/v1/notifications/"+id+"/read"), http.StatusOK)
	if again.ReadAt == nil || !again.ReadAt.Equal(*read.ReadAt) {
		t.Errorf("marked read again: read_at %v, want %v", again.ReadAt, read.ReadAt)
	}
	unread := decodeAs[listBody](t, f.do(t, ada, http.MethodGet, notification.CollectionPath+"?unread=true"), http.StatusOK)
	if len(unread.Notifications) != 3 || *unread.UnreadCount != 3 {
		t.Errorf("unread: %d listed, count %d; want 3", len(unread.Notifications), *unread.UnreadCount)
	}

	r := f.do(t, ada, http.MethodPost, notification.ReadAllPath)
	if got := decodeAs[map[string]int64](t, r, http.StatusOK); got["marked_read"] != 3 || len(got) != 1 {
		t.Errorf("read-all = %v, want {marked_read: 3}", got)
	}
	if got := decodeAs[listBody](t, f.do(t, ada, http.MethodGet, notification.CollectionPath+"?unread=true"), http.StatusOK); len(got.Notifications) != 0 || *got.UnreadCount != 0 {
		t.Errorf("after read-all: %+v", got)
	}
	// Bob's is untouched.
	if got := decodeAs[listBody](t, f.do(t, f.who.otherUser, http.MethodGet, notification.CollectionPath), http.StatusOK); len(got.Notifications) != 1 || *got.UnreadCount != 1 {
		t.Errorf("bob's list: %+v", got)
	}
}

// TestHTTPAccessRules: every route needs a user's token, and each user
// sees only their own notifications (admins too).
func TestHTTPAccessRules(t *testing.T) {
	f := newHTTPFixture(t)
	bobs := decodeAs[listBody](t, f.do(t, f.who.otherUser, http.MethodGet, notification.CollectionPath), http.StatusOK)
	bobsID := bobs.Notifications[0]["id"].(string)
	routes := []struct{ method, path string }{
		{http.MethodGet, notification.CollectionPath},
		{http.MethodPost, "/api/v1/notifications/" + bobsID + "/read"},
		{http.MethodPost, notification.ReadAllPath},
	}
	for _, rt := range routes {
		for _, c := range []struct {
			name, token string
			want        int
		}{
			{"anonymous", "", http.StatusUnauthorized},
			{"garbage token", "not-a-token", http.StatusUnauthorized},
			{"service account", f.who.serviceAccount, http.StatusForbidden},
		} {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				r := f.do(t, c.token, rt.method, rt.path)
				decodeProblem(t, r, c.want)
				if c.want == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	if got := decodeAs[listBody](t, f.do(t, f.who.admin, http.MethodGet, notification.CollectionPath), http.StatusOK); len(got.Notifications) != 0 {
		t.Errorf("an admin lists %d notifications of others", len(got.Notifications))
	}
	for _, token := range []string{f.who.customer, f.who.admin} {
		decodeProblem(t, f.do(t, token, http.MethodPost, "/api/v1/notifications/"+bobsID+"/read"), http.StatusNotFound)
	}
	if got := decodeAs[listBody](t, f.do(t, f.who.otherUser, http.MethodGet, notification.CollectionPath), http.StatusOK); got.Notifications[0]["read"] != false {
		t.Error("bob's notification was marked read by someone else")
	}
}

func TestHTTPBadRequests(t *testing.T) {
	f := newHTTPFixture(t)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantFields         []string
	}{
		{"bad limit", http.MethodGet, "?limit=x", http.StatusBadRequest, []string{"limit"}},
		{"zero limit", http.MethodGet, "?limit=0", http.StatusBadRequest, []string{"limit"}},
		{"limit too large", http.MethodGet, "?limit=101", http.StatusBadRequest, []string{"limit"}},
		{"bad page token", http.MethodGet, "?page_token=nope", http.StatusBadRequest, []string{"page_token"}},
		{"bad unread", http.MethodGet, "?unread=maybe", http.StatusBadRequest, []string{"unread"}},
		{"unread twice", http.MethodGet, "?unread=true&unread=false", http.StatusBadRequest, []string{"unread"}},
		{"malformed id", http.MethodPost, "/not-a-uuid/read", http.StatusBadRequest, []string{"id"}},
		{"unknown id", http.MethodPost, "/" + uuid.NewString() + "/read", http.StatusNotFound, nil},
		{"unknown path", http.MethodGet, "/" + uuid.NewString(), http.StatusNotFound, nil},
		{"read with GET", http.MethodGet, "/" + uuid.NewString() + "/read", http.StatusMethodNotAllowed, nil},
		{"delete the list", http.MethodDelete, "", http.StatusMethodNotAllowed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decodeProblem(t, f.do(t, f.who.customer, tt.method, notification.CollectionPath+tt.path), tt.wantStatus)
			var got []string
			for _, fe := range p.Errors {
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("problem fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}
