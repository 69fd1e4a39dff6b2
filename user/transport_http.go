package user

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// HTTP routes. The gateway forwards /api/v1/users and /api/v1/auth paths
// unchanged, so they are the same behind it and on the service's own port;
// /.well-known/jwks.json is for callers that reach the service directly
// (the gateway fetches the keys there).
const (
	UsersPath    = "/api/v1/users"
	MePath       = "/api/v1/users/me"
	LoginPath    = "/api/v1/auth/login"
	RefreshPath  = "/api/v1/auth/refresh"
	LogoutPath   = "/api/v1/auth/logout"
	JWKSPath     = "/.well-known/jwks.json"
	AuthJWKSPath = "/api/v1/auth/jwks.json"
)

// Registration metadata for the gateway (see cmd/user): the path prefixes
// it routes to this service, comma-separated, and the routes it lets
// through without a token, as comma-separated "METHOD /path" entries.
// Everything else under the prefixes needs a valid access token.
const (
	APIPrefixes  = "/api/v1/users,/api/v1/auth"
	PublicRoutes = "POST " + UsersPath + ",POST " + LoginPath + ",POST " + RefreshPath + ",POST " + LogoutPath + ",GET " + AuthJWKSPath
)

// JWKSMaxAge is how long clients may cache the JWKS (Cache-Control
// max-age, in seconds). A verifier that meets an unknown kid refetches
// anyway (kit/auth.JWKSCache), so a new key is picked up at once.
const JWKSMaxAge = 300

// HTTPOption configures NewHTTPHandler.
type HTTPOption func(*httpOptions)

type httpOptions struct {
	trustForwardedFor bool
}

// TrustForwardedFor makes the login throttle take the client's address from
// the last X-Forwarded-For entry, the one the gateway appends, instead of
// the connection's peer (which, behind the gateway, is the gateway for
// everyone). Only set it when the service is reachable solely through the
// gateway: otherwise a client picks a fresh address per request and escapes
// the per-client throttle.
func TrustForwardedFor(trust bool) HTTPOption {
	return func(o *httpOptions) { o.trustForwardedFor = trust }
}

// NewHTTPHandler serves the endpoints as a JSON API:
//
//	POST  /api/v1/users          {email,password,name}        201 user
//	POST  /api/v1/auth/login     {email,password}             200 tokens
//	POST  /api/v1/auth/refresh   {refresh_token}              200 tokens
//	POST  /api/v1/auth/logout    {refresh_token}              204
//	GET   /api/v1/users/me                                    200 user (token)
//	PATCH /api/v1/users/me       {name?,password?,current_password?}  200 user (token)
//	GET   /.well-known/jwks.json, /api/v1/auth/jwks.json     200 {"keys":[…]}
//
// Tokens are {"access_token","token_type":"Bearer","expires_in","refresh_token"}
// with Cache-Control: no-store. Every error is an application/problem+json
// document (kit/httpx). Request bodies are strict: JSON only, at most 1 MiB,
// no unknown fields, no nulls.
func NewHTTPHandler(eps Endpoints, logger log.Logger, opts ...HTTPOption) http.Handler {
	var o httpOptions
	for _, opt := range opts {
		opt(&o)
	}
	serverOpts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	jwks := httptransport.NewServer(eps.JWKS, decodeHTTPJWKSRequest, encodeHTTPJWKSResponse, serverOpts...)

	r := httpx.NewRouter(logger)
	r.Handle(http.MethodPost, UsersPath, httptransport.NewServer(eps.SignUp, decodeHTTPSignUpRequest, encodeHTTPSignUpResponse, serverOpts...))
	r.Handle(http.MethodPost, LoginPath, httptransport.NewServer(eps.Login, o.decodeHTTPLoginRequest, encodeHTTPTokenResponse, serverOpts...))
	r.Handle(http.MethodPost, RefreshPath, httptransport.NewServer(eps.Refresh, decodeHTTPRefreshRequest, encodeHTTPTokenResponse, serverOpts...))
	r.Handle(http.MethodPost, LogoutPath, httptransport.NewServer(eps.Logout, decodeHTTPLogoutRequest, encodeHTTPLogoutResponse, serverOpts...))
	r.Handle(http.MethodGet, MePath, httptransport.NewServer(eps.GetMe, decodeHTTPGetMeRequest, encodeHTTPUserResponse, serverOpts...))
	r.Handle(http.MethodPatch, MePath, httptransport.NewServer(eps.UpdateMe, decodeHTTPUpdateMeRequest, encodeHTTPUserResponse, serverOpts...))
	r.Handle(http.MethodGet, JWKSPath, jwks)
	r.Handle(http.MethodGet, AuthJWKSPath, jwks)
	return r
}

// signUpBody is the JSON body of POST /api/v1/users; every field is
// required.
type signUpBody struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Name     *string `json:"name"`
}

func decodeHTTPSignUpRequest(_ context.Context, r *http.Request) (any, error) {
	var body signUpBody
	if err := decodeBody(r, &body, "email", "password", "name"); err != nil {
		return nil, err
	}
	return SignUpRequest{User: NewUser{Email: *body.Email, Password: *body.Password, Name: *body.Name}}, nil
}

// loginBody is the JSON body of POST /api/v1/auth/login.
type loginBody struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

func (o httpOptions) decodeHTTPLoginRequest(_ context.Context, r *http.Request) (any, error) {
	var body loginBody
	if err := decodeBody(r, &body, "email", "password"); err != nil {
		return nil, err
	}
	return LoginRequest{Credentials: Credentials{
		Email:    *body.Email,
		Password: *body.Password,
		ClientIP: clientIP(r, o.trustForwardedFor),
	}}, nil
}

// refreshTokenBody is the JSON body of refresh and logout.
type refreshTokenBody struct {
	RefreshToken *string `json:"refresh_token"`
}

func decodeHTTPRefreshRequest(_ context.Context, r *http.Request) (any, error) {
	var body refreshTokenBody
	if err := decodeBody(r, &body, "refresh_token"); err != nil {
		return nil, err
	}
	return RefreshRequest{RefreshToken: *body.RefreshToken}, nil
}

func decodeHTTPLogoutRequest(_ context.Context, r *http.Request) (any, error) {
	var body refreshTokenBody
	if err := decodeBody(r, &body, "refresh_token"); err != nil {
		return nil, err
	}
	return LogoutRequest{RefreshToken: *body.RefreshToken}, nil
}

func decodeHTTPGetMeRequest(context.Context, *http.Request) (any, error) {
	return GetMeRequest{}, nil
}

// patchBody is the JSON body of PATCH /api/v1/users/me: every field is
// optional; current_password goes with password.
type patchBody struct {
	Name            *string `json:"name"`
	Password        *string `json:"password"`
	CurrentPassword *string `json:"current_password"`
}

func decodeHTTPUpdateMeRequest(_ context.Context, r *http.Request) (any, error) {
	var body patchBody
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	return UpdateMeRequest{Patch: Patch(body)}, nil
}

func decodeHTTPJWKSRequest(context.Context, *http.Request) (any, error) {
	return JWKSRequest{}, nil
}

// decodeBody decodes the JSON object in r's body into dst, a struct of
// pointer fields, with httpx.DecodeJSON's strict rules. Members that are
// explicitly null and required members that are missing are Invalid, all
// listed at once: a pointer field cannot tell null from absent, so the
// body, kept aside while DecodeJSON reads it (within its size limit), is
// looked at once more.
func decodeBody(r *http.Request, dst any, required ...string) error {
	var raw bytes.Buffer
	if r.Body != nil {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &raw), r.Body}
	}
	if err := httpx.DecodeJSON(r, dst); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw.Bytes(), &members); err != nil {
		// DecodeJSON accepted it as an object (or null), so this cannot fail.
		return errs.Wrap(err, errs.Internal, "")
	}
	var fields []errs.FieldError
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if bytes.Equal(members[name], []byte("null")) {
			fields = append(fields, errs.FieldError{Field: name, Message: "must not be null"})
		}
	}
	for _, name := range required {
		if _, present := members[name]; !present {
			fields = append(fields, errs.FieldError{Field: name, Message: "is required"})
		}
	}
	return errs.InvalidFields(fields...)
}

// clientIP returns the address a login attempt is attributed to: the
// connection's peer, or with trustForwarded the last X-Forwarded-For entry
// (the address the gateway saw), as the gateway itself does.
func clientIP(r *http.Request, trustForwarded bool) string {
	if trustForwarded {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func encodeHTTPSignUpResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, created{User: resp.(SignUpResponse).User})
}

func encodeHTTPUserResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(UserResponse).User)
}

func encodeHTTPTokenResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	t := resp.(TokenResponse).Tokens
	return httpx.EncodeJSON(ctx, w, tokenBody{
		AccessToken:  t.AccessToken,
		TokenType:    TokenType,
		ExpiresIn:    int64(t.ExpiresIn.Seconds()),
		RefreshToken: t.RefreshToken,
	})
}

func encodeHTTPLogoutResponse(ctx context.Context, w http.ResponseWriter, _ any) error {
	return httpx.EncodeJSON(ctx, w, nil) // 204 No Content
}

func encodeHTTPJWKSResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, jwksBody(resp.(JWKSResponse).JWKS))
}

// created is a user just signed up: 201.
type created struct {
	User
}

// StatusCode implements httptransport.StatusCoder.
func (created) StatusCode() int { return http.StatusCreated }

// tokenBody is a token response as OAuth 2.0 clients expect it (RFC 6749
// section 5.1), expires_in in seconds.
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Headers implements httptransport.Headerer: no cache may keep tokens.
func (tokenBody) Headers() http.Header {
	return http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
}

// jwksBody is the key set, cacheable for JWKSMaxAge seconds.
type jwksBody auth.JWKS

// Headers implements httptransport.Headerer.
func (jwksBody) Headers() http.Header {
	return http.Header{"Cache-Control": {"public, max-age=" + strconv.Itoa(JWKSMaxAge)}}
}
