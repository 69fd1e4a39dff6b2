package auth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

const (
	testClientID = "order"
	testSecret   = "0rder-s3cret-of-some-length"
	testLifetime = 100 * time.Second // expires_in the fake servers issue
	tokenPath    = "/oauth/token"
)

// tokenServer is a fake token endpoint for one service account. Tests
// change its behaviour between calls; with a gate, requests wait until the
// gate is opened (or their context ends).
type tokenServer struct {
	mu          sync.Mutex
	requests    int
	forms       []url.Values
	contentType string
	status      int    // answer with this status instead of a token; 0 for none
	retryAfter  string // Retry-After of a non-200 answer
	body        string // answer 200 with this body instead of a token; "" for none
	bodyType    string // Content-Type of body
	expiresIn   int64
	issued      int
	gate        chan struct{}
}

func newTokenServer() *tokenServer {
	return &tokenServer{expiresIn: int64(testLifetime / time.Second)}
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != tokenPath {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.forms = append(s.forms, r.PostForm)
	s.contentType = r.Header.Get("Content-Type")
	switch {
	case s.status != 0:
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		http.Error(w, "refused", s.status)
		return
	case s.body != "":
		w.Header().Set("Content-Type", s.bodyType)
		fmt.Fprint(w, s.body)
		return
	case r.PostForm.Get("grant_type") != "client_credentials":
		http.Error(w, "bad grant", http.StatusBadRequest)
		return
	case r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testSecret:
		http.Error(w, "invalid client credentials", http.StatusUnauthorized)
		return
	}
	s.issued++
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": "token-" + strconv.Itoa(s.issued),
		"token_type":   "Bearer",
		"expires_in":   s.expiresIn,
	})
}

func (s *tokenServer) set(f func(*tokenServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *tokenServer) close() { s.set(func(s *tokenServer) { s.gate = make(chan struct{}) }) }

func (s *tokenServer) open() {
	s.set(func(s *tokenServer) {
		close(s.gate)
		s.gate = nil
	})
}

func (s *tokenServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// hosts is an in-memory network for http.Client: each host name is served
// by a handler in the calling goroutine, through httptest.ResponseRecorder,
// so that tests run in a synctest bubble with fake time. Unknown hosts
// refuse connections.
type hosts map[string]http.Handler

func (h hosts) RoundTrip(r *http.Request) (*http.Response, error) {
	handler, ok := h[r.URL.Host]
	if !ok {
		return nil, fmt.Errorf("dial tcp %s: connection refused", r.URL.Host)
	}
	if r.Body != nil {
		defer r.Body.Close()
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func (h hosts) client() *http.Client { return &http.Client{Transport: h} }

func tokenURL(host string) string { return "http://" + host + tokenPath }

// newSource returns a ClientCredentials for testClientID over the in-memory
// network, fetching from urls.
func newSource(h hosts, urls ...string) *auth.ClientCredentials {
	return auth.NewClientCredentials(func() []string { return urls }, testClientID, testSecret, h.client(),
		auth.WithTokenFetchTimeout(2*time.Second), auth.WithTokenRetryDelay(time.Second))
}

// wantToken calls Token and fails t unless it returns want.
func wantToken(t *testing.T, ts auth.TokenSource, want string) {
	t.Helper()
	got, err := ts.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got != want {
		t.Fatalf("Token = %q, want %q", got, want)
	}
}

// wantTokenError calls Token and fails t unless it fails with kind.
func wantTokenError(t *testing.T, ts auth.TokenSource, kind errs.Kind) error {
	t.Helper()
	got, err := ts.Token(t.Context())
	if errs.KindOf(err) != kind || err == nil {
		t.Fatalf("Token = %q, %v; want a %v error", got, err, kind)
	}
	if got != "" {
		t.Errorf("Token returned %q with its error", got)
	}
	if strings.Contains(err.Error(), testSecret) || strings.Contains(errs.Message(err), testSecret) {
		t.Errorf("error %q contains the secret", err)
	}
	return err
}

func wantRequests(t *testing.T, s *tokenServer, want int) {
	t.Helper()
	if got := s.count(); got != want {
		t.Fatalf("token requests = %d, want %d", got, want)
	}
}

func TestClientCredentialsCachesToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		cc := newSource(hosts{"user-1": srv}, tokenURL("user-1"))

		wantToken(t, cc, "token-1")
		time.Sleep(testLifetime*8/10 - time.Millisecond)
		wantToken(t, cc, "token-1")
		synctest.Wait() // a refresh, had one started, would be done
		wantRequests(t, srv, 1)

		srv.mu.Lock()
		defer srv.mu.Unlock()
		want := url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testSecret}}
		if got := srv.forms[0]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("form = %v, want %v", got, want)
		}
		if srv.contentType != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", srv.contentType)
		}
	})
}

func TestClientCredentialsRefreshesBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		cc := newSource(hosts{"user-1": srv}, tokenURL("user-1"))
		wantToken(t, cc, "token-1")

		// At 80% of the lifetime the cached token is still handed out while
		// the next one is fetched behind the call.
		srv.close()
		time.Sleep(testLifetime * 8 / 10)
		wantToken(t, cc, "token-1")
		synctest.Wait()
		wantRequests(t, srv, 2)
		wantToken(t, cc, "token-1") // the refresh is running; no second one
		wantRequests(t, srv, 2)
		srv.open()
		synctest.Wait()
		wantToken(t, cc, "token-2")
		wantRequests(t, srv, 2)
	})
}

func TestClientCredentialsRefreshFailureKeepsToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		cc := newSource(hosts{"user-1": srv}, tokenURL("user-1"))
		wantToken(t, cc, "token-1")

		srv.set(func(s *tokenServer) { s.status = http.StatusServiceUnavailable })
		time.Sleep(testLifetime * 8 / 10)
		wantToken(t, cc, "token-1") // starts a refresh, which fails
		synctest.Wait()
		wantRequests(t, srv, 2)
		wantToken(t, cc, "token-1") // within the retry delay: no new attempt
		wantRequests(t, srv, 2)

		time.Sleep(time.Second)
		wantToken(t, cc, "token-1") // retry delay over: another attempt
		synctest.Wait()
		wantRequests(t, srv, 3)

		// At 90% the token is no longer handed out; callers wait for a
		// fetch, which fails.
		time.Sleep(testLifetime*9/10 - testLifetime*8/10 - time.Second)
		wantTokenError(t, cc, errs.Unavailable)
		wantRequests(t, srv, 4)

		srv.set(func(s *tokenServer) { s.status = 0 })
		time.Sleep(time.Second)
		wantToken(t, cc, "token-2")
	})
}

func TestClientCredentialsConcurrentCallersShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		srv.close()
		cc := newSource(hosts{"user-1": srv}, tokenURL("user-1"))

		const callers = 50
		var wg sync.WaitGroup
		results := make(chan string, callers)
		for range callers {
			wg.Go(func() {
				token, err := cc.Token(t.Context())
				if err != nil {
					t.Errorf("Token: %v", err)
				}
				results <- token
			})
		}
		synctest.Wait() // every caller waits for the one fetch
		wantRequests(t, srv, 1)
		srv.open()
		wg.Wait()
		close(results)
		for token := range results {
			if token != "token-1" {
				t.Errorf("Token = %q, want token-1", token)
			}
		}
		wantRequests(t, srv, 1)
	})
}

func TestClientCredentialsFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing, throttling, good := newTokenServer(), newTokenServer(), newTokenServer()
		failing.set(func(s *tokenServer) { s.status = http.StatusInternalServerError })
		throttling.set(func(s *tokenServer) { s.status, s.retryAfter = http.StatusTooManyRequests, "30" })
		h := hosts{"failing": failing, "throttling": throttling, "good": good}
		cc := newSource(h, tokenURL("down"), tokenURL("failing"), tokenURL("throttling"), tokenURL("good"))

		wantToken(t, cc, "token-1")
		wantRequests(t, failing, 1)
		wantRequests(t, throttling, 1)
		wantRequests(t, good, 1)
	})
}

func TestClientCredentialsFollowsDiscovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, second := newTokenServer(), newTokenServer()
		second.set(func(s *tokenServer) { s.issued = 100 })
		var mu sync.Mutex
		urls := []string{} // no instance known yet
		cc := auth.NewClientCredentials(func() []string {
			mu.Lock()
			defer mu.Unlock()
			return urls
		}, testClientID, testSecret, hosts{"first": first, "second": second}.client())

		wantTokenError(t, cc, errs.Unavailable)
		mu.Lock()
		urls = []string{tokenURL("first")}
		mu.Unlock()
		time.Sleep(auth.DefaultTokenRetryDelay)
		wantToken(t, cc, "token-1")

		// The instance goes away and another comes; the refresh finds it.
		mu.Lock()
		urls = []string{tokenURL("second")}
		mu.Unlock()
		time.Sleep(testLifetime * 8 / 10)
		wantToken(t, cc, "token-1")
		synctest.Wait()
		wantToken(t, cc, "token-101")
		wantRequests(t, first, 1)
	})
}
