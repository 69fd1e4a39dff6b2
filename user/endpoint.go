package user

import (
	"context"
	"fmt"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

// Method names, as in logs and (for GetUser) the gRPC service; endpoint
// middleware is keyed by them.
const (
	MethodSignUp   = "SignUp"
	MethodLogin    = "Login"
	MethodRefresh  = "Refresh"
	MethodLogout   = "Logout"
	MethodGetMe    = "GetMe"
	MethodUpdateMe = "UpdateMe"
	MethodGetUser  = "GetUser"
	MethodJWKS     = "GetJWKS"
	// MethodServiceToken issues tokens to service accounts.
	MethodServiceToken = "ServiceToken"
)

// Endpoints holds one go-kit endpoint per operation; both transports serve
// from the same set, so middleware applied here applies to both.
//
// Endpoints return the service's errors as the endpoint error (not inside the
// response), so that endpoint middleware sees them.
type Endpoints struct {
	SignUp   endpoint.Endpoint // SignUpRequest -> SignUpResponse
	Login    endpoint.Endpoint // LoginRequest -> TokenResponse
	Refresh  endpoint.Endpoint // RefreshRequest -> TokenResponse
	Logout   endpoint.Endpoint // LogoutRequest -> LogoutResponse
	GetMe    endpoint.Endpoint // GetMeRequest -> UserResponse; authenticated
	UpdateMe endpoint.Endpoint // UpdateMeRequest -> UserResponse; authenticated
	GetUser  endpoint.Endpoint // GetUserRequest -> UserResponse; authenticated
	JWKS     endpoint.Endpoint // JWKSRequest -> JWKSResponse
	// ServiceToken: ServiceTokenRequest -> ServiceTokenResponse.
	ServiceToken endpoint.Endpoint
}

// NewEndpoints returns the endpoints of svc. GetMe, UpdateMe and GetUser
// are built with auth.Authenticate(v): they need a valid access token on the
// context (put there by the transports), and the caller's identity reaches
// the service. The others are public. No other middleware is applied.
func NewEndpoints(svc Service, v *auth.Verifier) Endpoints {
	authenticated := auth.Authenticate(v)
	return Endpoints{
		SignUp: typed(MethodSignUp, func(ctx context.Context, req SignUpRequest) (SignUpResponse, error) {
			u, err := svc.SignUp(ctx, req.User)
			return SignUpResponse{User: u}, err
		}),
		Login: typed(MethodLogin, func(ctx context.Context, req LoginRequest) (TokenResponse, error) {
			pair, err := svc.Login(ctx, req.Credentials)
			return TokenResponse{Tokens: pair}, err
		}),
		Refresh: typed(MethodRefresh, func(ctx context.Context, req RefreshRequest) (TokenResponse, error) {
			pair, err := svc.Refresh(ctx, req.RefreshToken)
			return TokenResponse{Tokens: pair}, err
		}),
		Logout: typed(MethodLogout, func(ctx context.Context, req LogoutRequest) (LogoutResponse, error) {
			return LogoutResponse{}, svc.Logout(ctx, req.RefreshToken)
		}),
		GetMe: authenticated(typed(MethodGetMe, func(ctx context.Context, _ GetMeRequest) (UserResponse, error) {
			id, err := callerID(ctx)
			if err != nil {
				return UserResponse{}, err
			}
			u, err := svc.Get(ctx, id)
			return UserResponse{User: u}, err
		})),
		UpdateMe: authenticated(typed(MethodUpdateMe, func(ctx context.Context, req UpdateMeRequest) (UserResponse, error) {
			id, err := callerID(ctx)
			if err != nil {
				return UserResponse{}, err
			}
			u, err := svc.Update(ctx, id, req.Patch)
			return UserResponse{User: u}, err
		})),
		GetUser: authenticated(typed(MethodGetUser, func(ctx context.Context, req GetUserRequest) (UserResponse, error) {
			u, err := svc.Get(ctx, req.ID)
			return UserResponse{User: u}, err
		})),
		JWKS: typed(MethodJWKS, func(ctx context.Context, _ JWKSRequest) (JWKSResponse, error) {
			keys, err := svc.JWKS(ctx)
			return JWKSResponse{JWKS: keys}, err
		}),
		ServiceToken: typed(MethodServiceToken, func(ctx context.Context, req ServiceTokenRequest) (ServiceTokenResponse, error) {
			tok, err := svc.ServiceToken(ctx, req.Credentials)
			return ServiceTokenResponse{Token: tok}, err
		}),
	}
}

// callerID is the user id of the authenticated caller; Authenticate has
// put the identity on ctx. Without one it is "", which the service refuses.
// A service account is a caller without a profile: Forbidden, rather than
// its subject mistaken for a malformed user id.
func callerID(ctx context.Context) (string, error) {
	id, _ := auth.FromContext(ctx)
	if _, ok := id.Service(); ok {
		return "", errs.New(errs.Forbidden, "service accounts have no user profile")
	}
	return id.UserID, nil
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw (called once per method with its Method* name), outside the
// authentication of the protected endpoints: a logging middleware also
// logs calls refused for a missing token, and a rate limit also protects
// the signature checks.
func (e Endpoints) Wrap(mw func(method string) endpoint.Middleware) Endpoints {
	return Endpoints{
		SignUp:   mw(MethodSignUp)(e.SignUp),
		Login:    mw(MethodLogin)(e.Login),
		Refresh:  mw(MethodRefresh)(e.Refresh),
		Logout:   mw(MethodLogout)(e.Logout),
		GetMe:    mw(MethodGetMe)(e.GetMe),
		UpdateMe: mw(MethodUpdateMe)(e.UpdateMe),
		GetUser:  mw(MethodGetUser)(e.GetUser),
		JWKS:     mw(MethodJWKS)(e.JWKS),

		ServiceToken: mw(MethodServiceToken)(e.ServiceToken),
	}
}

// typed adapts a typed function to go-kit's untyped endpoint. On error the
// response is nil, so nothing half-built reaches an encoder.
func typed[Req, Resp any](method string, f func(context.Context, Req) (Resp, error)) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(Req)
		if !ok {
			// A transport decoded into the wrong type: a wiring bug.
			return nil, errs.Wrap(fmt.Errorf("%s: unexpected request type %T", method, request), errs.Internal, "")
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// SignUpRequest is the request of the SignUp endpoint.
type SignUpRequest struct {
	User NewUser
}

// SignUpResponse carries the account created.
type SignUpResponse struct {
	User User
}

// LoginRequest is the request of the Login endpoint.
type LoginRequest struct {
	Credentials Credentials
}

// TokenResponse carries the tokens of a login or refresh.
type TokenResponse struct {
	Tokens TokenPair
}

// RefreshRequest is the request of the Refresh endpoint.
type RefreshRequest struct {
	RefreshToken string
}

// LogoutRequest is the request of the Logout endpoint.
type LogoutRequest struct {
	RefreshToken string
}

// LogoutResponse is the empty response of the Logout endpoint.
type LogoutResponse struct{}

// GetMeRequest is the request of the GetMe endpoint: the caller is the
// subject.
type GetMeRequest struct{}

// UpdateMeRequest is the request of the UpdateMe endpoint.
type UpdateMeRequest struct {
	Patch Patch
}

// GetUserRequest is the request of the GetUser endpoint.
type GetUserRequest struct {
	ID string
}

// UserResponse carries one user.
type UserResponse struct {
	User User
}

// JWKSRequest is the request of the JWKS endpoint.
type JWKSRequest struct{}

// JWKSResponse carries the public signing keys.
type JWKSResponse struct {
	JWKS auth.JWKS
}

// ServiceTokenRequest is the request of the ServiceToken endpoint.
type ServiceTokenRequest struct {
	Credentials ClientCredentials
}

// ServiceTokenResponse carries a service account's token.
type ServiceTokenResponse struct {
	Token AccessToken
}
