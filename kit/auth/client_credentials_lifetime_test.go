package auth_test

import (
	"testing"
	"testing/synctest"
	"time"
)

// The lifetime a token endpoint states is clamped: one that overflows a
// time.Duration does not make the token expire at once (so that every call
// fetched a new one), and neither does a tiny one.
func TestClientCredentialsClampsLifetime(t *testing.T) {
	for _, tt := range []struct {
		name      string
		expiresIn int64
		usedFor   time.Duration // the token is still handed out after this
		refreshBy time.Duration // and refreshed by then
	}{
		{"overflowing", 1 << 62, time.Hour, 24 * time.Hour},
		{"years", 10 * 365 * 24 * 3600, time.Hour, 24 * time.Hour},
		{"one second", 1, 5 * time.Second, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := newTokenServer()
				srv.expiresIn = tt.expiresIn
				cc := newSource(hosts{"user-1": srv}, tokenURL("user-1"))
				wantToken(t, cc, "token-1")
				time.Sleep(tt.usedFor)
				wantToken(t, cc, "token-1")
				synctest.Wait()
				wantRequests(t, srv, 1)
				time.Sleep(tt.refreshBy - tt.usedFor)
				cc.Token(t.Context())
				synctest.Wait()
				wantRequests(t, srv, 2)
			})
		})
	}
}
