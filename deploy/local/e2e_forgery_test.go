package local_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/requestid"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
	"github.com/kitshop/kitshop/user/userapi"
)

// testForgedTokens presents tokens that claim an admin but are forged, each
// in one way, through the gateway, straight at every product instance over
// HTTP, and at a product instance over gRPC: all must be refused as
// unauthenticated. The forgeries that need the real key (an expired token,
// a wrong audience) use the user service's own key file from runDir, so
// that nothing but the claim at fault can explain a refusal; a valid token
// made the same way is accepted, which proves it.
func testForgedTokens(t *testing.T, c *client, stack *local.Stack, runDir, customer string) {
	issuer := realSigner(t, c, runDir)
	forgeries := forgedTokens(t, issuer, customer)

	// The control: the real key and valid claims make a working admin
	// token, so each refusal below is the forgery's doing.
	control := issuer.Token("e2e-control-admin", auth.RoleCustomer, auth.RoleAdmin)
	body := func() []byte {
		return mustJSON(t, map[string]any{"sku": "E2E-FORGE-" + randomHex(t, 3), "name": "Forged", "price_minor": 1, "currency": "EUR"})
	}
	var p product
	decodeJSON(t, "create with the control token", c.do(t, http.MethodPost, "/api/v1/products", bearer(control), body()), http.StatusCreated, &p)

	targets := []struct {
		name string
		c    *client
		path string
	}{
		{"gateway: create a product", c, "/api/v1/products"},
		{"gateway: me", c, "/api/v1/users/me"},
	}
	for _, inst := range stack.Instances("product") {
		targets = append(targets, struct {
			name string
			c    *client
			path string
		}{inst.ID + " directly: create a product", newClient("http://" + inst.HTTPAddr), "/api/v1/products"})
	}
	// Request ids of the refusals, by who had to refuse: the gateway (a
	// service must never see these requests) or a product instance.
	var viaGateway, direct []string
	for _, f := range forgeries {
		t.Run(f.name, func(t *testing.T) {
			for _, tg := range targets {
				method, b := http.MethodPost, body()
				if strings.HasSuffix(tg.path, "/me") {
					method, b = http.MethodGet, nil
				}
				r := tg.c.do(t, method, tg.path, bearer(f.token), b)
				checkProblem(t, tg.name, r, http.StatusUnauthorized, "unauthenticated", "")
				if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
					t.Errorf("%s: WWW-Authenticate %q, want error=\"invalid_token\"", tg.name, got)
				}
				if tg.c == c {
					viaGateway = append(viaGateway, r.Header.Get(requestid.Header))
				} else {
					direct = append(direct, r.Header.Get(requestid.Header))
				}
			}
		})
	}
	for _, tg := range targets {
		tg.c.http.CloseIdleConnections()
	}
	checkRefusedWhere(t, stack, viaGateway, direct)

	// gRPC never passes the gateway: the product instance is on its own.
	insts := stack.Instances("product")
	if len(insts) == 0 {
		t.Fatal("no product instance")
	}
	cc, err := grpcx.Dial(insts[len(insts)-1].GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	grpcClient := productv1.NewProductServiceClient(cc)
	call := func(token string, req *productv1.UpdateProductRequest) error {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+token)
		_, err := grpcClient.UpdateProduct(ctx, req)
		return err
	}
	stock := int64(0)
	update := &productv1.UpdateProductRequest{Id: p.ID, Stock: &stock}
	for _, f := range forgeries {
		if err := call(f.token, update); status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC UpdateProduct with forged token (%s): %v, want Unauthenticated", f.name, err)
		}
	}
	if err := call(customer, update); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC UpdateProduct as a customer: %v, want PermissionDenied", err)
	}
	if err := call(control, update); err != nil {
		t.Errorf("gRPC UpdateProduct with the control token: %v", err)
	}

	if r := c.do(t, http.MethodDelete, "/api/v1/products/"+p.ID, bearer(control), nil); r.Status != http.StatusNoContent {
		t.Errorf("delete with the control token: status %d, want 204; body %s", r.Status, truncate(r.Body))
	}
}

// checkRefusedWhere checks, by request id, that the gateway turned the
// forged tokens away itself, so no service instance logged those requests,
// while the ones sent straight to an instance were logged there: a
// refusal behind the gateway would pass the status checks as well.
func checkRefusedWhere(t *testing.T, stack *local.Stack, viaGateway, direct []string) {
	t.Helper()
	var logs strings.Builder
	for _, name := range []string{"user", "product"} {
		for _, inst := range stack.Instances(name) {
			data, err := os.ReadFile(inst.Process.LogPath())
			if err != nil {
				t.Fatal(err)
			}
			logs.Write(data)
		}
	}
	all := logs.String()
	for _, id := range viaGateway {
		if strings.Contains(all, id) {
			t.Errorf("request %s with a forged token reached a service through the gateway; the gateway must refuse it", id)
		}
	}
	for _, id := range direct {
		if !strings.Contains(all, id) {
			t.Errorf("request %s sent straight to a product instance is not in its log, so the check above proves nothing", id)
		}
	}
}

// realSigner returns a Signer with the user service's own signing key,
// read from the key file the stack keeps under runDir, and the key id the
// service publishes for it.
func realSigner(t *testing.T, c *client, runDir string) *authtest.Signer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(runDir, "keys", "user-signing.pem"))
	if err != nil {
		t.Fatalf("the user service's key file: %v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("the user service's key file holds no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("the user service's key is a %T, want Ed25519", key)
	}
	pub := priv.Public().(ed25519.PublicKey)

	var set auth.JWKS
	decodeJSON(t, "jwks through the gateway", c.do(t, http.MethodGet, "/api/v1/auth/jwks.json", nil, nil), http.StatusOK, &set)
	s := authtest.NewSigner(t)
	s.Private, s.Public, s.Kid = priv, pub, ""
	s.Issuer, s.Audience = userapi.Issuer, userapi.Audience
	for _, k := range set.Keys {
		if got, err := k.PublicKey(); err == nil && got.Equal(pub) {
			s.Kid = k.Kid
		}
	}
	if s.Kid == "" {
		t.Fatalf("the published keys %+v do not include the key file's", set.Keys)
	}
	return s
}

// forgery is a token that must be refused.
type forgery struct {
	name  string
	token string
}

// forgedTokens returns tokens that claim an admin, each wrong in one way.
// issuer signs with the issuer's real key; customer is a real customer's
// access token.
func forgedTokens(t *testing.T, issuer *authtest.Signer, customer string) []forgery {
	t.Helper()
	admin := func(changes map[string]any) jwt.MapClaims {
		c := issuer.Claims("e2e-forger", auth.RoleCustomer, auth.RoleAdmin)
		for k, v := range changes {
			c[k] = v
		}
		return c
	}
	now := time.Now()

	impostor := authtest.NewSigner(t)
	ownKid := impostor.Token("e2e-forger", auth.RoleAdmin)
	impostor.Kid = issuer.Kid
	sameKid := impostor.Token("e2e-forger", auth.RoleAdmin)

	// A real customer token whose payload now claims admin; the signature
	// is the issuer's, over the original payload.
	parts := strings.Split(customer, ".")
	if len(parts) != 3 {
		t.Fatalf("the customer's access token has %d parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["roles"] = []string{auth.RoleCustomer, auth.RoleAdmin}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, claims)) + "." + parts[2]

	// A valid admin token with one bit of its signature flipped.
	valid := strings.Split(issuer.Sign(admin(nil)), ".")
	sig, err := base64.RawURLEncoding.DecodeString(valid[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 0x80
	flipped := valid[0] + "." + valid[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	der, err := x509.MarshalPKIXPublicKey(issuer.Public)
	if err != nil {
		t.Fatal(err)
	}
	pemPublic := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	return []forgery{
		{"signed by another key under the real kid", sameKid},
		{"signed by another key under its own kid", ownKid},
		{"alg none", authtest.Unsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": issuer.Kid}, admin(nil))},
		{"HS256 keyed with the raw public key", hmacToken(t, issuer.Kid, issuer.Public, admin(nil))},
		{"HS256 keyed with the PEM public key", hmacToken(t, issuer.Kid, pemPublic, admin(nil))},
		{"expired", issuer.Sign(admin(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}))},
		{"wrong audience", issuer.Sign(admin(map[string]any{"aud": "some-other-api"}))},
		{"wrong issuer", issuer.Sign(admin(map[string]any{"iss": "https://issuer.example"}))},
		{"tampered payload", tampered},
		{"tampered signature", flipped},
	}
}

// hmacToken signs claims with HS256 under key: the algorithm-confusion
// attack on verifiers that take the public key for an HMAC secret.
func hmacToken(t *testing.T, kid string, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// testLogsKeepSecrets reads the log of every process of the stack and
// fails for each password or token the test used that shows up in one.
func testLogsKeepSecrets(t *testing.T, stack *local.Stack, sec *secrets) {
	logs, err := filepath.Glob(filepath.Join(stack.LogDir(), "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no logs in %s (%v)", stack.LogDir(), err)
	}
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			continue
		}
		for i, s := range sec.values {
			if bytes.Contains(data, []byte(s)) {
				// Say which, without printing it: test output is a log too.
				t.Errorf("%s contains secret #%d (%d bytes) the test used", filepath.Base(path), i, len(s))
			}
		}
	}
	t.Logf("%d logs free of %d passwords and tokens", len(logs), len(sec.values))
}
