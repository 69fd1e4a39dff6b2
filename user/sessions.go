package user

import "time"

// DefaultReuseWindow is how long a rotated refresh token is kept so that
// its reuse is recognised (and the session revoked as stolen). A copy used
// later is merely unknown: refused, but without ending the session. A day
// covers a client that lost a response and retries, and an attacker who
// replays a token captured that day; without a limit every refresh would
// leave a row behind for the refresh token's whole lifetime.
const DefaultReuseWindow = 24 * time.Hour

// WithReuseWindow sets how long rotated refresh tokens are kept for reuse
// detection (default DefaultReuseWindow). Older ones are deleted when the
// session is refreshed and when the user logs in.
func WithReuseWindow(d time.Duration) Option {
	return func(s *service) { s.reuseWindow = d }
}
