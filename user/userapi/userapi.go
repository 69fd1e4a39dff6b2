// Package userapi is what the user service promises the services that
// trust it: the issuer and audience of its access tokens and where service
// accounts get theirs. It holds constants only, so a service can take them
// as defaults without importing the user service's code.
package userapi

const (
	// Service is the user service's name in Consul.
	Service = "user"
	// Issuer is the "iss" of the access tokens the user service signs.
	Issuer = "kitshop-user"
	// Audience is the "aud" they carry: every kitshop service.
	Audience = "kitshop"
	// TokenPath is the OAuth 2.0 token endpoint (client credentials) of the
	// service accounts, on the user service's HTTP port and the gateway.
	TokenPath = "/api/v1/auth/token"
)
