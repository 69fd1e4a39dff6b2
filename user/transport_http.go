package user

import (
	"context"
	"errors"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/user/userapi"
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
	// TokenPath issues tokens to service accounts; kit/auth's
	// ClientCredentials posts to it.
	TokenPath = userapi.TokenPath
)

// Registration metadata for the gateway (see cmd/user): the path prefixes
// it routes to this service, comma-separated, and the routes it lets
// through without a token, as comma-separated "METHOD =/path" entries:
// exact paths (gateway.MetaPublicRoutes), so that a POST below the users
// collection, say, is not made public along with the sign-up. Everything
// else under the prefixes needs a valid access token.
//
// The token endpoint is public because its callers have no token yet; the
// services that use it call this service directly (found in Consul), so
// the gateway need not expose it, but does no harm if it does: it answers
// only to a service account's secret and is throttled like logins.
var (
	APIPrefixes  = []string{"/api/v1/users", "/api/v1/auth"}
	PublicRoutes = []consul.PublicRoute{
		{Method: http.MethodPost, Path: UsersPath, Exact: true},
		{Method: http.MethodPost, Path: LoginPath, Exact: true},
		{Method: http.MethodPost, Path: RefreshPath, Exact: true},
		{Method: http.MethodPost, Path: LogoutPath, Exact: true},
		{Method: http.MethodGet, Path: AuthJWKSPath, Exact: true},
		{Method: http.MethodPost, Path: TokenPath, Exact: true},
	}
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
//	POST  /api/v1/users          {email,password,name}        202 {"status","message"}
//	POST  /api/v1/auth/login     {email,password}             200 tokens
//	POST  /api/v1/auth/refresh   {refresh_token}              200 tokens
//	POST  /api/v1/auth/logout    {refresh_token}              204
//	GET   /api/v1/users/me                                    200 user (token)
//	PATCH /api/v1/users/me       {name?,password?,current_password?}  200 user (token)
//	GET   /.well-known/jwks.json, /api/v1/auth/jwks.json     200 {"keys":[…]}
//	POST  /api/v1/auth/token     {grant_type,client_id,client_secret}  200 token
//
// A sign-up is answered 202 with the same body whether it created an
// account or the email had one already, so that the API tells nobody which
// emails are registered; a new account can log in at once.
//
// Tokens are {"access_token","token_type":"Bearer","expires_in","refresh_token"}
// with Cache-Control: no-store; a service account's token has no
// refresh_token. Every error is an application/problem+json document
// (kit/httpx). Request bodies are strict: JSON only, at most 1 MiB, no
// unknown fields, no nulls. The token endpoint alone also takes the form
// encoding OAuth 2.0 clients send, and the client credentials in an HTTP
// Basic Authorization header instead of the body (RFC 6749 section 2.3.1),
// so that stock OAuth client libraries work with it.
func NewHTTPHandler(eps Endpoints, logger log.Logger, opts ...HTTPOption) http.Handler {
	var o httpOptions
	for _, opt := range opts {
		opt(&o)
	}
	serverOpts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	jwks := httptransport.NewServer(eps.JWKS, decodeHTTPJWKSRequest, encodeHTTPJWKSResponse, serverOpts...)

	r := httpx.NewRouter(logger)
	r.Handle(http.MethodPost, UsersPath, httptransport.NewServer(eps.SignUp, o.decodeHTTPSignUpRequest, encodeHTTPSignUpResponse, serverOpts...))
	r.Handle(http.MethodPost, LoginPath, httptransport.NewServer(eps.Login, o.decodeHTTPLoginRequest, encodeHTTPTokenResponse, serverOpts...))
	r.Handle(http.MethodPost, RefreshPath, httptransport.NewServer(eps.Refresh, decodeHTTPRefreshRequest, encodeHTTPTokenResponse, serverOpts...))
	r.Handle(http.MethodPost, LogoutPath, httptransport.NewServer(eps.Logout, decodeHTTPLogoutRequest, encodeHTTPLogoutResponse, serverOpts...))
	r.Handle(http.MethodGet, MePath, httptransport.NewServer(eps.GetMe, decodeHTTPGetMeRequest, encodeHTTPUserResponse, serverOpts...))
	r.Handle(http.MethodPatch, MePath, httptransport.NewServer(eps.UpdateMe, decodeHTTPUpdateMeRequest, encodeHTTPUserResponse, serverOpts...))
	r.Handle(http.MethodGet, JWKSPath, jwks)
	r.Handle(http.MethodGet, AuthJWKSPath, jwks)
	r.Handle(http.MethodPost, TokenPath, basicChallenge(
		httptransport.NewServer(eps.ServiceToken, o.decodeHTTPServiceTokenRequest, encodeHTTPServiceTokenResponse, serverOpts...)))
	return r
}

// signUpBody is the JSON body of POST /api/v1/users; every field is
// required.
type signUpBody struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Name     *string `json:"name"`
}

func (o httpOptions) decodeHTTPSignUpRequest(_ context.Context, r *http.Request) (any, error) {
	var body signUpBody
	if err := httpx.DecodeObject(r, &body, "email", "password", "name"); err != nil {
		return nil, err
	}
	return SignUpRequest{User: NewUser{
		Email: *body.Email, Password: *body.Password, Name: *body.Name,
		ClientIP: clientIP(r, o.trustForwardedFor),
	}}, nil
}

// loginBody is the JSON body of POST /api/v1/auth/login.
type loginBody struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

func (o httpOptions) decodeHTTPLoginRequest(_ context.Context, r *http.Request) (any, error) {
	var body loginBody
	if err := httpx.DecodeObject(r, &body, "email", "password"); err != nil {
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
	if err := httpx.DecodeObject(r, &body, "refresh_token"); err != nil {
		return nil, err
	}
	return RefreshRequest{RefreshToken: *body.RefreshToken}, nil
}

func decodeHTTPLogoutRequest(_ context.Context, r *http.Request) (any, error) {
	var body refreshTokenBody
	if err := httpx.DecodeObject(r, &body, "refresh_token"); err != nil {
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
	if err := httpx.DecodeObject(r, &body); err != nil {
		return nil, err
	}
	return UpdateMeRequest{Patch: Patch(body)}, nil
}

func decodeHTTPJWKSRequest(context.Context, *http.Request) (any, error) {
	return JWKSRequest{}, nil
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

// Parameters of a token request (RFC 6749 sections 2.3.1 and 4.4.2).
const (
	paramGrantType    = "grant_type"
	paramClientID     = "client_id"
	paramClientSecret = "client_secret"
	paramScope        = "scope"
	grantClientCreds  = "client_credentials"
)

// tokenRequestBody is the body of POST /api/v1/auth/token, in JSON or form
// encoding.
type tokenRequestBody struct {
	GrantType    *string `json:"grant_type"`
	ClientID     *string `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
	// Scope is accepted because OAuth clients may send it, but kitshop has
	// no scopes: it must be empty.
	Scope *string `json:"scope"`
}

const formContentType = "application/x-www-form-urlencoded"

func (o httpOptions) decodeHTTPServiceTokenRequest(_ context.Context, r *http.Request) (any, error) {
	if r.URL.RawQuery != "" {
		// Secrets in a URL end up in access logs and browser histories.
		return nil, errs.New(errs.Invalid, "parameters belong in the request body, not the URL")
	}
	var body tokenRequestBody
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case formContentType:
		if err := decodeTokenForm(r, &body); err != nil {
			return nil, err
		}
	case "application/json", "":
		// "" only with an empty body, which DecodeJSON reports.
		if err := httpx.DecodeObject(r, &body); err != nil {
			return nil, err
		}
	default:
		return nil, errs.New(errs.Invalid, "Content-Type must be "+formContentType+" or application/json")
	}

	var fields []errs.FieldError
	if id, secret, present, err := basicCredentials(r); err != nil {
		return nil, err
	} else if present {
		if body.ClientID != nil || body.ClientSecret != nil {
			// RFC 6749 section 2.3: one authentication method per request.
			return nil, errs.New(errs.Invalid, "send the client credentials either in the Authorization header or in the body, not both")
		}
		body.ClientID, body.ClientSecret = &id, &secret
	}
	switch {
	case body.GrantType == nil:
		fields = append(fields, errs.FieldError{Field: paramGrantType, Message: "is required"})
	case *body.GrantType != grantClientCreds:
		// The only grant; users log in at /api/v1/auth/login.
		fields = append(fields, errs.FieldError{Field: paramGrantType, Message: "must be " + grantClientCreds})
	}
	if body.ClientID == nil {
		fields = append(fields, errs.FieldError{Field: paramClientID, Message: "is required"})
	}
	if body.ClientSecret == nil {
		fields = append(fields, errs.FieldError{Field: paramClientSecret, Message: "is required"})
	}
	if body.Scope != nil && *body.Scope != "" {
		fields = append(fields, errs.FieldError{Field: paramScope, Message: "is not supported"})
	}
	if err := errs.InvalidFields(fields...); err != nil {
		return nil, err
	}
	return ServiceTokenRequest{Credentials: ClientCredentials{
		ClientID:     *body.ClientID,
		ClientSecret: *body.ClientSecret,
		ClientIP:     clientIP(r, o.trustForwardedFor),
	}}, nil
}

// decodeTokenForm decodes a form-encoded token request into dst with the
// JSON decoder's strictness: a body within httpx.MaxBodyBytes, UTF-8, no
// unknown parameters, none given twice (RFC 6749 section 3.2).
func decodeTokenForm(r *http.Request, dst *tokenRequestBody) error {
	if _, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8") {
		return errs.New(errs.Invalid, "Content-Type charset must be utf-8")
	}
	if r.Body == nil || r.ContentLength == 0 {
		return errs.New(errs.Invalid, "request body is empty")
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, httpx.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return httpx.BodyTooLarge(httpx.MaxBodyBytes)
		}
		return errs.Wrap(err, errs.Invalid, "request body could not be read")
	}
	values, err := url.ParseQuery(string(data))
	if err != nil {
		return errs.Wrap(err, errs.Invalid, "request body is not valid form data")
	}
	if len(values) == 0 {
		return errs.New(errs.Invalid, "request body is empty")
	}
	targets := map[string]**string{
		paramGrantType: &dst.GrantType, paramClientID: &dst.ClientID, paramClientSecret: &dst.ClientSecret, paramScope: &dst.Scope,
	}
	var fields []errs.FieldError
	for _, name := range slices.Sorted(maps.Keys(values)) {
		target, known := targets[name]
		switch {
		case !known:
			fields = append(fields, errs.FieldError{Field: fieldName(name), Message: "is not a known parameter"})
		case len(values[name]) > 1:
			fields = append(fields, errs.FieldError{Field: name, Message: "must be given once"})
		case !utf8.ValidString(values[name][0]):
			fields = append(fields, errs.FieldError{Field: name, Message: "must be UTF-8 text"})
		default:
			v := values[name][0]
			*target = &v
		}
		if len(fields) == maxFormFieldErrors {
			break
		}
	}
	return errs.InvalidFields(fields...)
}

// maxFormFieldErrors bounds the parameters a form problem lists: they are
// the client's own names, and a body can hold a great many.
const maxFormFieldErrors = 10

// fieldName returns an unknown parameter's name fit for a problem
// document: cut to 64 bytes of valid UTF-8.
func fieldName(name string) string {
	if len(name) > 64 {
		name = name[:64]
	}
	return strings.ToValidUTF8(name, "\uFFFD")
}

// basicCredentials reads client credentials from an HTTP Basic
// Authorization header, where OAuth 2.0 puts them form-encoded before the
// Basic encoding (RFC 6749 section 2.3.1). present is false without a Basic
// header; other schemes are ignored (a bearer token means nothing here). A
// Basic header that does not decode is Invalid.
func basicCredentials(r *http.Request) (id, secret string, present bool, err error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", "", false, nil
	}
	scheme, _, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	malformed := errs.New(errs.Invalid, "malformed Basic Authorization header")
	if len(values) > 1 {
		return "", "", true, malformed
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", true, malformed
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", true, malformed
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", true, malformed
	}
	return id, secret, true, nil
}

// basicChallenge makes the 401s of the token endpoint challenge with the
// scheme it accepts credentials in, Basic (RFC 6749 section 5.2), instead of
// the Bearer challenge kit/httpx gives API routes: a bearer token is no use
// here.
func basicChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(challengeWriter{w}, r)
	})
}

type challengeWriter struct{ http.ResponseWriter }

func (w challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="kitshop"`)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func encodeHTTPServiceTokenResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	t := resp.(ServiceTokenResponse).Token
	return httpx.EncodeJSON(ctx, w, serviceTokenBody{
		AccessToken: t.Token,
		TokenType:   TokenType,
		ExpiresIn:   int64(t.ExpiresIn.Seconds()),
	})
}

// serviceTokenBody is a client credentials token response (RFC 6749
// section 4.4.3: no refresh token).
type serviceTokenBody struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// Headers implements httptransport.Headerer: no cache may keep tokens.
func (serviceTokenBody) Headers() http.Header {
	return http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
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
