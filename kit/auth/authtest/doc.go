// Package authtest signs access tokens for tests of code that uses kit/auth.
//
// A Signer holds a fresh Ed25519 key. Token gives a valid token for a user;
// Claims and Sign make tokens with any claims, SignWithHeader forges the
// header too, and KeySource, JWKS and Verifier plug the Signer's public key
// into the code under test:
//
//	s := authtest.NewSigner(t)
//	v := s.Verifier()
//	token := s.Token("user-1", auth.RoleCustomer)
//
// Never use it outside tests.
package authtest
