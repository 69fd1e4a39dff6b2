package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// The user service's routes the storefront calls (user/transport_http.go).
const (
	usersPath   = "/api/v1/users"
	mePath      = "/api/v1/users/me"
	loginPath   = "/api/v1/auth/login"
	refreshPath = "/api/v1/auth/refresh"
	logoutPath  = "/api/v1/auth/logout"
)

// Tokens are what a sign-in or a refresh returns.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Me is the signed-in user's account.
type Me struct {
	ID    string   `json:"id"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// Accounts is the user service's JSON API, on the instances urls returns
// (base URLs, Consul in production): sign-up, sign-in, refresh, sign-out,
// the account. The service has no gRPC for these. A call tries the next
// instance while one cannot be reached, through a breaker.
type Accounts struct {
	urls    func() []string
	client  *http.Client
	breaker breaker.Breaker
}

// NewAccounts returns the accounts API on the instances urls returns; b
// may be nil.
func NewAccounts(urls func() []string, b breaker.Breaker) *Accounts {
	return &Accounts{urls: urls, client: &http.Client{Timeout: DefaultBackendTimeout}, breaker: b}
}

// SignUp creates an account. The service answers the same whether or not
// the email had one (it tells nobody which emails are registered); the
// sign-in that follows tells.
func (a *Accounts) SignUp(ctx context.Context, email, password, name string) error {
	return a.do(ctx, http.MethodPost, usersPath, "", "", map[string]string{"email": email, "password": password, "name": name}, nil)
}

// Login signs in; clientAddr is the shopper's address, for the service's
// per-client throttle.
func (a *Accounts) Login(ctx context.Context, email, password, clientAddr string) (Tokens, error) {
	var t Tokens
	err := a.do(ctx, http.MethodPost, loginPath, "", clientAddr, map[string]string{"email": email, "password": password}, &t)
	return t, err
}

// Refresh trades a refresh token for new tokens.
func (a *Accounts) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	var t Tokens
	err := a.do(ctx, http.MethodPost, refreshPath, "", "", map[string]string{"refresh_token": refreshToken}, &t)
	return t, err
}

// Logout revokes a refresh token.
func (a *Accounts) Logout(ctx context.Context, refreshToken string) error {
	return a.do(ctx, http.MethodPost, logoutPath, "", "", map[string]string{"refresh_token": refreshToken}, nil)
}

// Me returns the account of the access token.
func (a *Accounts) Me(ctx context.Context, token string) (Me, error) {
	var me Me
	err := a.do(ctx, http.MethodGet, mePath, token, "", nil, &me)
	return me, err
}

// ChangePassword sets a new password, given the current one.
func (a *Accounts) ChangePassword(ctx context.Context, token, current, password string) error {
	return a.do(ctx, http.MethodPatch, mePath, token, "", map[string]string{"current_password": current, "password": password}, nil)
}

// do sends one JSON request to an instance, trying the next while one
// cannot be reached, and decodes the answer into out (if not nil). Error
// answers come back as the service's *errs.Error (kit/httpx).
func (a *Accounts) do(ctx context.Context, method, path, token, clientAddr string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return errs.Wrap(err, errs.Internal, "")
		}
	}
	run := func(ctx context.Context) error {
		urls := a.urls()
		if len(urls) == 0 {
			return &errs.Error{Kind: errs.Unavailable, Message: "the user service is unavailable, try again in a moment", RetryAfter: time.Second}
		}
		var lastErr error
		for i, base := range urls {
			if i == DefaultBackendAttempts {
				break
			}
			req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
			if err != nil {
				return errs.Wrap(err, errs.Internal, "")
			}
			if in != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if clientAddr != "" {
				// The user service throttles sign-ins per client; the
				// storefront is one client for all its shoppers otherwise.
				req.Header.Set("X-Forwarded-For", clientAddr)
			}
			resp, err := a.client.Do(req)
			if err != nil {
				lastErr = &errs.Error{Kind: errs.Unavailable, Message: "the user service is unavailable, try again in a moment", RetryAfter: time.Second, Err: err}
				continue
			}
			err = decodeAnswer(resp, out)
			if !errs.Is(err, errs.Unavailable) {
				return err
			}
			lastErr = err
		}
		return lastErr
	}
	if a.breaker == nil {
		return run(ctx)
	}
	// A wrong password is an answer, not a failure of the service.
	var business error
	err := a.breaker.Execute(ctx, func(ctx context.Context) error {
		err := run(ctx)
		if errs.KindOf(err).Business() {
			business = err
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return business
}

func decodeAnswer(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if err := httpx.ErrorFromResponse(resp); err != nil {
		return err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return &errs.Error{Kind: errs.Unavailable, Message: "the user service gave an unreadable answer", Err: err}
	}
	return nil
}
