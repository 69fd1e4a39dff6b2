package gateway

import (
	"net/http"
	"strings"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

// Client-safe messages of the gateway's authentication errors. A bad token
// gets kit/auth's own message.
const (
	msgAuthRequired  = "authentication required"
	msgBadCredential = "authorization must be a single Bearer token"
)

// authenticate admits a request to a protected route: it must carry exactly
// one "Authorization: Bearer <token>" header with a token the verifier
// accepts, and its user must be within the per-user rate limit. It records
// the user for the access log. Errors are ready for httpx.WriteError:
// Unauthenticated (401 with a WWW-Authenticate challenge), Unavailable when
// the signing keys cannot be fetched (503), RateLimited (429).
//
// The header itself is forwarded unchanged: every service verifies the
// token again and takes the caller's identity from it, never from anything
// the gateway adds. The gateway's check keeps anonymous and forged traffic
// away from the services and lets it limit each user.
func (g *Gateway) authenticate(r *http.Request, info *requestInfo) error {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || (len(values) == 1 && strings.TrimSpace(values[0]) == "") {
		return errs.New(errs.Unauthenticated, msgAuthRequired)
	}
	if len(values) > 1 {
		// Two credentials: the gateway and the service might pick
		// different ones.
		return errs.New(errs.Unauthenticated, msgBadCredential)
	}
	token, ok := auth.BearerToken(values[0])
	if !ok {
		return errs.New(errs.Unauthenticated, msgBadCredential)
	}
	id, err := g.verifier.Verify(r.Context(), token)
	if err != nil {
		if errs.KindOf(err) == errs.Unauthenticated {
			// The reason (expired, unknown key, wrong audience) is for
			// operators only; httpx.WriteError does not log client errors.
			// kit/auth keeps the token itself out of its causes.
			level.Debug(logging.WithRequest(g.logger, r.Context())).Log("msg", "token rejected", "err", err)
		}
		return err
	}
	info.userID = id.UserID
	if g.userLimiter != nil {
		if ok, wait := g.userLimiter.Allow(id.UserID); !ok {
			if g.metrics != nil {
				g.metrics.RateLimited(limiterUser)
			}
			return ratelimit.Error(wait)
		}
	}
	return nil
}

// stripIdentityHeaders removes the request headers that carry a caller's
// identity in setups where a proxy vouches for it (X-User-Id, X-Remote-User
// and the like) and every X-Kitshop-* header, whatever their case. kitshop's
// services take identity only from verified tokens, but a header a client
// made up must not reach a service, a log or a future component that trusts
// it. Names are compared with underscores read as dashes, since some
// servers and frameworks (CGI's HTTP_X_USER_ID) do not tell them apart.
func stripIdentityHeaders(h http.Header) {
	for name := range h {
		if identityHeader(name) {
			delete(h, name)
		}
	}
}

// identityHeader reports whether a request header of this name is stripped
// by stripIdentityHeaders.
func identityHeader(name string) bool {
	if len(name) < 2 || (name[0] != 'X' && name[0] != 'x') || (name[1] != '-' && name[1] != '_') {
		return false // the common case, without allocating
	}
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	switch n {
	case "x-user-id", "x-user-roles", "x-user-email", "x-auth-user", "x-forwarded-user", "x-remote-user":
		return true
	}
	return strings.HasPrefix(n, "x-kitshop-")
}
