package user

import (
	"context"
	"net/http"
	"time"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

// Defaults of the sign-up throttle.
const (
	// DefaultSignUpsPerClient is how many sign-ups one client address (an
	// IPv6 client's /64) may make per DefaultSignUpWindow. Each costs a
	// password hash, and people behind one address (an office, a carrier's
	// NAT) rarely sign up more than a few at once.
	DefaultSignUpsPerClient = 20
	// DefaultSignUpWindow is the period the sign-up budget refills over.
	DefaultSignUpWindow = 10 * time.Minute
	// signUpMaxKeys bounds the throttle's memory (about 200 bytes a key).
	signUpMaxKeys = 100_000
)

// WithSignUpThrottle allows perClient sign-ups per client address per window
// (default DefaultSignUpsPerClient per DefaultSignUpWindow), keyed by
// kit/ratelimit ClientKey; perClient <= 0 turns the throttle off. Sign-ups
// without a client address are not throttled.
func WithSignUpThrottle(perClient int, window time.Duration) Option {
	return func(s *service) { s.signUps = newSignUpThrottle(perClient, window) }
}

// signUpThrottle is a token bucket per client address; nil allows all.
type signUpThrottle struct {
	clients *ratelimit.Keyed
}

func newSignUpThrottle(perClient int, window time.Duration) *signUpThrottle {
	if perClient <= 0 || window <= 0 {
		return nil
	}
	return &signUpThrottle{clients: ratelimit.NewKeyed(float64(perClient)/window.Seconds(), perClient, signUpMaxKeys)}
}

// allow takes a token from client's bucket, or returns a RateLimited error
// with the wait.
func (t *signUpThrottle) allow(client string, now time.Time) error {
	if t == nil || client == "" {
		return nil
	}
	if ok, wait := t.clients.AllowAt(ratelimit.ClientKey(client), now); !ok {
		return ratelimit.Error(wait)
	}
	return nil
}

// SignUpMessage is the message of every accepted sign-up, whether or not
// the email had an account already.
const SignUpMessage = "If this email had no account, the account is created and you can log in now. " +
	"If it had one, nothing changed and its owner is notified."

// signUpAccepted is the answer to every valid sign-up: 202 and the same
// body, so it says nothing about whether the email was free.
type signUpAccepted struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// StatusCode implements httptransport.StatusCoder.
func (signUpAccepted) StatusCode() int { return http.StatusAccepted }

func encodeHTTPSignUpResponse(ctx context.Context, w http.ResponseWriter, _ any) error {
	return httpx.EncodeJSON(ctx, w, signUpAccepted{
		Status:  "accepted",
		Message: SignUpMessage,
	})
}
