package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/internal/testlog"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

func TestClientCredentialsErrors(t *testing.T) {
	bigBody := `{"access_token":"x","token_type":"Bearer","expires_in":60,"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name           string
		setup          func(*tokenServer)
		urls           []string
		clientID       string
		wantKind       errs.Kind
		wantRetryAfter time.Duration
		wantRequests   int
	}{
		{name: "no URL", wantKind: errs.Unavailable},
		{name: "all down", urls: []string{tokenURL("down-1"), tokenURL("down-2")}, wantKind: errs.Unavailable},
		{name: "server error", setup: func(s *tokenServer) { s.status = http.StatusInternalServerError },
			wantKind: errs.Unavailable, wantRequests: 1},
		{name: "throttled", setup: func(s *tokenServer) { s.status, s.retryAfter = http.StatusTooManyRequests, "7" },
			wantKind: errs.Unavailable, wantRetryAfter: 7 * time.Second, wantRequests: 1},
		{name: "wrong secret", clientID: "order", wantKind: errs.Unauthenticated, wantRequests: 1},
		{name: "unknown client", clientID: "nobody", wantKind: errs.Unauthenticated, wantRequests: 1},
		{name: "rejected by one, other down", clientID: "nobody", urls: []string{tokenURL("down"), tokenURL("user")},
			wantKind: errs.Unauthenticated, wantRequests: 1},
		{name: "bad request", setup: func(s *tokenServer) { s.status = http.StatusBadRequest },
			wantKind: errs.Unavailable, wantRequests: 1},
		{name: "HTML", setup: func(s *tokenServer) { s.body, s.bodyType = "<html>", "text/html" },
			wantKind: errs.Unavailable, wantRequests: 1},
		{name: "malformed JSON", setup: func(s *tokenServer) { s.body, s.bodyType = `{"access_token":`, "application/json" },
			wantKind: errs.Unavailable, wantRequests: 1},
		{name: "no access token", setup: func(s *tokenServer) {
			s.body, s.bodyType = `{"token_type":"Bearer","expires_in":60}`, "application/json"
		},
			wantKind: errs.Unavailable, wantRequests: 1},
		{name: "access token with spaces", setup: func(s *tokenServer) {
			s.body, s.bodyType = `{"access_token":"a b","token_type":"Bearer","expires_in":60}`, "application/json"
		}, wantKind: errs.Unavailable, wantRequests: 1},
		{name: "other token type", setup: func(s *tokenServer) {
			s.body, s.bodyType = `{"access_token":"abc","token_type":"mac","expires_in":60}`, "application/json"
		}, wantKind: errs.Unavailable, wantRequests: 1},
		{name: "no lifetime", setup: func(s *tokenServer) {
			s.body, s.bodyType = `{"access_token":"abc","token_type":"Bearer"}`, "application/json"
		}, wantKind: errs.Unavailable, wantRequests: 1},
		{name: "response too large", setup: func(s *tokenServer) { s.body, s.bodyType = bigBody, "application/json" },
			wantKind: errs.Unavailable, wantRequests: 1},
		{name: "no client id configured", clientID: "-", wantKind: errs.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := newTokenServer()
				if tt.setup != nil {
					srv.set(tt.setup)
				}
				urls := tt.urls
				if urls == nil && tt.name != "no URL" {
					urls = []string{tokenURL("user")}
				}
				clientID, secret := testClientID, testSecret
				switch tt.clientID {
				case "":
				case "-":
					clientID = ""
				case "order":
					secret = "not-the-secret-at-all"
				default:
					clientID = tt.clientID
				}
				cc := auth.NewClientCredentials(func() []string { return urls }, clientID, secret, hosts{"user": srv}.client())

				err := wantTokenError(t, cc, tt.wantKind)
				if got := errs.RetryAfterOf(err); got != tt.wantRetryAfter {
					t.Errorf("RetryAfter = %v, want %v", got, tt.wantRetryAfter)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the secret", err)
				}
				wantRequests(t, srv, tt.wantRequests)
			})
		})
	}
}

func TestClientCredentialsRejectionMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cc := auth.NewClientCredentials(func() []string { return []string{tokenURL("user")} },
			testClientID, "a-wrong-secret-of-length", hosts{"user": newTokenServer()}.client())
		err := wantTokenError(t, cc, errs.Unauthenticated)
		if msg := errs.Message(err); !strings.Contains(msg, "client id and secret") {
			t.Errorf("message %q does not point at the configuration", msg)
		}
	})
}

func TestClientCredentialsRetryDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		srv.set(func(s *tokenServer) { s.status = http.StatusInternalServerError })
		cc := newSource(hosts{"user": srv}, tokenURL("user"))

		wantTokenError(t, cc, errs.Unavailable)
		wantRequests(t, srv, 1)
		// Within the retry delay the failure is repeated without a request,
		// with the wait until the next attempt.
		time.Sleep(400 * time.Millisecond)
		err := wantTokenError(t, cc, errs.Unavailable)
		if got := errs.RetryAfterOf(err); got != 600*time.Millisecond {
			t.Errorf("RetryAfter = %v, want 600ms", got)
		}
		wantRequests(t, srv, 1)

		// A server asking for a longer wait gets it.
		time.Sleep(600 * time.Millisecond)
		srv.set(func(s *tokenServer) { s.status, s.retryAfter = http.StatusTooManyRequests, "5" })
		wantTokenError(t, cc, errs.Unavailable)
		wantRequests(t, srv, 2)
		time.Sleep(4 * time.Second)
		wantTokenError(t, cc, errs.Unavailable)
		wantRequests(t, srv, 2)

		srv.set(func(s *tokenServer) { s.status = 0 })
		time.Sleep(time.Second)
		wantToken(t, cc, "token-1")
		wantRequests(t, srv, 3)
	})
}

func TestClientCredentialsCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		srv.close()
		cc := newSource(hosts{"user": srv}, tokenURL("user"))

		ctx, cancel := context.WithCancel(t.Context())
		impatient := make(chan error, 1)
		go func() {
			_, err := cc.Token(ctx)
			impatient <- err
		}()
		patient := make(chan error, 1)
		go func() {
			_, err := cc.Token(t.Context())
			patient <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-impatient; errs.KindOf(err) != errs.Unavailable {
			t.Errorf("canceled Token: kind %v (err %v), want unavailable", errs.KindOf(err), err)
		}
		// The fetch the impatient caller may have started goes on for the
		// other one.
		srv.open()
		if err := <-patient; err != nil {
			t.Errorf("patient Token: %v", err)
		}
		wantRequests(t, srv, 1)
	})
}

func TestClientCredentialsFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		srv.close() // never opened: the fetch hangs until its timeout
		cc := newSource(hosts{"user": srv}, tokenURL("user"))

		start := time.Now()
		wantTokenError(t, cc, errs.Unavailable)
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("Token took %v, want the fetch timeout of 2s", got)
		}
	})
}

func TestClientCredentialsLogsNoSecrets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTokenServer()
		var logs testlog.Buffer
		cc := auth.NewClientCredentials(func() []string { return []string{tokenURL("down"), tokenURL("user")} },
			testClientID, testSecret, hosts{"user": srv}.client(), auth.WithTokenLogger(log.NewLogfmtLogger(&logs)))
		wantToken(t, cc, "token-1")
		srv.set(func(s *tokenServer) { s.status = http.StatusUnauthorized })
		time.Sleep(testLifetime)
		wantTokenError(t, cc, errs.Unauthenticated)

		out := logs.String()
		for _, want := range []string{`msg="service token obtained" client_id=order`, `msg="fetching service token failed"`, "kind=unauthenticated"} {
			if !strings.Contains(out, want) {
				t.Errorf("logs lack %s:\n%s", want, out)
			}
		}
		for _, secret := range []string{testSecret, "token-1"} {
			if strings.Contains(out, secret) {
				t.Errorf("logs contain %q:\n%s", secret, out)
			}
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, cc); strings.Contains(s, testSecret) {
				t.Errorf("Sprintf(%s) = %s, contains the secret", verb, s)
			}
		}
	})
}

// The secret goes only where discovery points: a redirect is an error,
// not a reason to post the credentials elsewhere.
func TestClientCredentialsDoesNotFollowRedirects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		elsewhere := newTokenServer()
		redirect := http.RedirectHandler(tokenURL("elsewhere"), http.StatusTemporaryRedirect)
		cc := newSource(hosts{"user": redirect, "elsewhere": elsewhere}, tokenURL("user"))
		wantTokenError(t, cc, errs.Unavailable)
		wantRequests(t, elsewhere, 0)
	})
}

// TestClientCredentialsOverHTTP fetches from real servers on loopback: one
// that is gone, then one that issues the token.
func TestClientCredentialsOverHTTP(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL + tokenPath
	gone.Close()
	ts := newTokenServer()
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)

	cc := auth.NewClientCredentials(func() []string { return []string{goneURL, srv.URL + tokenPath} },
		testClientID, testSecret, nil)
	for range 3 {
		wantToken(t, cc, "token-1")
	}
	wantRequests(t, ts, 1)
}

var (
	_ auth.TokenSource = (*auth.ClientCredentials)(nil)
	_ auth.TokenSource = auth.TokenSourceFunc(nil)
)
