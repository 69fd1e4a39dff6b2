package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

func ExampleVerifier() {
	// The user service signs with its private key...
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	token := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss":   "https://id.example",
		"aud":   "shop",
		"sub":   "user-42",
		"iat":   now.Unix(),
		"exp":   now.Add(15 * time.Minute).Unix(),
		"jti":   "token-1",
		"roles": []string{auth.RoleCustomer},
	})
	token.Header["kid"] = "key-2026-01"
	raw, _ := token.SignedString(priv)

	// ...and other services verify with its public key, which they would
	// normally get from a JWKSCache over HTTPJWKSFetcher.
	keys := auth.StaticKeys{"key-2026-01": pub}
	v := auth.NewVerifier(keys, "https://id.example", "shop")

	id, err := v.Verify(context.Background(), raw)
	fmt.Println(id.UserID, id.Roles, id.TokenID, err)
	fmt.Println(id.HasRole(auth.RoleAdmin))

	_, err = v.Verify(context.Background(), raw+"x")
	fmt.Println(errs.KindOf(err), errs.Message(err))
	// Output:
	// user-42 [customer] token-1 <nil>
	// false
	// unauthenticated invalid or expired token
}

func ExampleAuthenticate() {
	logger := log.NewNopLogger()
	v := auth.NewVerifier(auth.StaticKeys{}, "https://id.example", "shop")
	me := func(ctx context.Context, _ any) (any, error) {
		id, _ := auth.FromContext(ctx)
		return map[string]string{"id": id.UserID}, nil
	}
	decode := func(context.Context, *http.Request) (any, error) { return nil, nil }
	handler := httptransport.NewServer(auth.Authenticate(v)(me), decode, httpx.EncodeJSON,
		append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))...)

	for _, authorization := range []string{"", "Bearer not.a.token"} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/users/me", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
		fmt.Print(rec.Body)
	}
	// Output:
	// 401 Bearer realm="kitshop"
	// {"type":"urn:kitshop:problem:unauthenticated","title":"Unauthorized","status":401,"detail":"authentication required","kind":"unauthenticated"}
	// 401 Bearer realm="kitshop", error="invalid_token"
	// {"type":"urn:kitshop:problem:unauthenticated","title":"Unauthorized","status":401,"detail":"invalid or expired token","kind":"unauthenticated"}
}

func ExampleClientCredentials() {
	// A stand-in for the user service's token endpoint.
	var issued atomic.Int32
	userService := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"token-%d","token_type":"Bearer","expires_in":900}`, n)
	}))
	defer userService.Close()

	// In a service the URLs come from a kit/consul Watcher of "user", and
	// the secret from a flag or the environment.
	urls := func() []string { return []string{userService.URL + "/oauth/token"} }
	ts := auth.NewClientCredentials(urls, "order", "secret-from-the-environment", nil)

	// Outgoing gRPC calls then carry the token:
	//
	//	conn, err := grpcx.Dial(addr, grpc.WithChainUnaryInterceptor(auth.ServiceTokenInterceptor(ts)))
	for range 3 {
		token, err := ts.Token(context.Background())
		fmt.Println(token, err)
	}
	fmt.Println("tokens issued:", issued.Load())
	// Output:
	// token-1 <nil>
	// token-1 <nil>
	// token-1 <nil>
	// tokens issued: 1
}
