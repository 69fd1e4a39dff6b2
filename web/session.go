package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

// The cookies. Tokens live only here: HttpOnly, so no script reads them,
// SameSite=Lax, so no other site's form or fetch sends them, and Secure
// when the shop is served over TLS.
const (
	cookieAccess  = "ks_at"
	cookieRefresh = "ks_rt"
	cookieSID     = "ks_sid"  // a random id per browser: the CSRF token's key
	cookieCart    = "ks_cart" // a guest's cart, signed
)

// refreshLifetime is how long the refresh cookie is kept; the user
// service decides how long the token inside is good for.
const refreshLifetime = 30 * 24 * time.Hour

// Visitor is who a request comes from.
type Visitor struct {
	SID      string
	Identity auth.Identity
	Token    string // the access token, "" for a guest
}

// SignedIn reports whether the visitor has signed in.
func (v *Visitor) SignedIn() bool { return v.Token != "" }

// Admin reports whether the visitor is a signed-in admin.
func (v *Visitor) Admin() bool { return v.SignedIn() && v.Identity.HasRole(auth.RoleAdmin) }

type visitorKey struct{}

func visitorFrom(ctx context.Context) *Visitor {
	v, _ := ctx.Value(visitorKey{}).(*Visitor)
	if v == nil {
		return &Visitor{}
	}
	return v
}

// Sessions reads and writes the session cookies.
type Sessions struct {
	key      []byte
	verifier *auth.Verifier
	accounts *Accounts
	logger   log.Logger
}

// NewSessions returns sessions signed with key, whose access tokens
// verifier checks and accounts refreshes.
func NewSessions(key []byte, verifier *auth.Verifier, accounts *Accounts, logger log.Logger) *Sessions {
	return &Sessions{key: key, verifier: verifier, accounts: accounts, logger: logger}
}

// Middleware finds the visitor of each request: the browser's id (set on
// the first visit), and the signed-in user from the access token cookie,
// refreshed with the refresh cookie when it has expired. The token goes on
// the context for the backends (auth.NewTokenContext).
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &Visitor{}
		if c, err := r.Cookie(cookieSID); err == nil && validSID(c.Value) {
			v.SID = c.Value
		} else {
			v.SID = rand.Text()
			setCookie(w, r, cookieSID, v.SID, 0)
		}
		ctx := r.Context()
		if c, err := r.Cookie(cookieAccess); err == nil && c.Value != "" {
			if id, err := s.verifier.Verify(ctx, c.Value); err == nil {
				v.Identity, v.Token = id, c.Value
			}
		}
		if v.Token == "" {
			if c, err := r.Cookie(cookieRefresh); err == nil && c.Value != "" {
				s.refresh(w, r, v, c.Value)
			}
		}
		ctx = context.WithValue(ctx, visitorKey{}, v)
		if v.Token != "" {
			ctx = auth.NewTokenContext(ctx, v.Token)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// refresh trades the refresh cookie for new tokens. A refused refresh
// token signs the visitor out; an unavailable user service leaves the
// cookie for the next request.
func (s *Sessions) refresh(w http.ResponseWriter, r *http.Request, v *Visitor, refreshToken string) {
	t, err := s.accounts.Refresh(r.Context(), refreshToken)
	if err != nil {
		if errs.KindOf(err).Business() {
			clearCookie(w, r, cookieRefresh)
			clearCookie(w, r, cookieAccess)
		} else {
			level.Warn(s.logger).Log("msg", "refreshing a session", "err", err)
		}
		return
	}
	id, err := s.verifier.Verify(r.Context(), t.AccessToken)
	if err != nil {
		level.Warn(s.logger).Log("msg", "verifying a refreshed token", "err", err)
		return
	}
	s.SignIn(w, r, t)
	v.Identity, v.Token = id, t.AccessToken
}

// SignIn sets the token cookies.
func (s *Sessions) SignIn(w http.ResponseWriter, r *http.Request, t Tokens) {
	setCookie(w, r, cookieAccess, t.AccessToken, time.Duration(t.ExpiresIn)*time.Second)
	if t.RefreshToken != "" {
		setCookie(w, r, cookieRefresh, t.RefreshToken, refreshLifetime)
	}
}

// SignOut clears the token cookies and returns the refresh token to revoke.
func (s *Sessions) SignOut(w http.ResponseWriter, r *http.Request) string {
	clearCookie(w, r, cookieAccess)
	clearCookie(w, r, cookieRefresh)
	if c, err := r.Cookie(cookieRefresh); err == nil {
		return c.Value
	}
	return ""
}

// CSRFToken is the token every form of the visitor carries: a MAC of the
// browser's id, which another site can neither read nor compute.
func (s *Sessions) CSRFToken(v *Visitor) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", []byte(v.SID)))
}

// CheckCSRF reports whether the form's token is the visitor's.
func (s *Sessions) CheckCSRF(v *Visitor, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRFToken(v))) == 1
}

func (s *Sessions) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// GuestCart returns the guest's cart from its signed cookie; a missing,
// altered or malformed cookie is an empty cart.
func (s *Sessions) GuestCart(r *http.Request) []Line {
	c, err := r.Cookie(cookieCart)
	if err != nil {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	data, err1 := base64.RawURLEncoding.DecodeString(payload)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(cookieCart, data)) {
		return nil
	}
	var lines []Line
	if json.Unmarshal(data, &lines) != nil || len(lines) > MaxCartLines {
		return nil
	}
	out := lines[:0]
	for _, l := range lines {
		if validID(l.ProductID) && l.Quantity >= 1 && l.Quantity <= MaxQuantity {
			out = append(out, l)
		}
	}
	return out
}

// SetGuestCart writes the guest's cart cookie; an empty cart removes it.
func (s *Sessions) SetGuestCart(w http.ResponseWriter, r *http.Request, lines []Line) {
	if len(lines) == 0 {
		clearCookie(w, r, cookieCart)
		return
	}
	data, _ := json.Marshal(lines)
	value := base64.RawURLEncoding.EncodeToString(data) + "." + base64.RawURLEncoding.EncodeToString(s.mac(cookieCart, data))
	setCookie(w, r, cookieCart, value, refreshLifetime)
}

// secure reports whether the browser reached the shop over TLS, itself or
// through the gateway.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
}

// validSID accepts the ids rand.Text makes.
func validSID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// validID accepts a canonical UUID, as the services write them.
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// clientAddr is the shopper's address: with trustXFF the last
// X-Forwarded-For entry, which the gateway appends, else the connection's
// peer.
func clientAddr(r *http.Request, trustXFF bool) string {
	if xff := r.Header.Values("X-Forwarded-For"); trustXFF && len(xff) > 0 {
		parts := strings.Split(xff[len(xff)-1], ",")
		if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}
