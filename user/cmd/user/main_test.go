package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/kit/requestid"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
	"github.com/kitshop/kitshop/user"
	"github.com/kitshop/kitshop/user/userapi"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// start runs the program with args (plus apptest's defaults, the fastest
// bcrypt and the test binary's broker) until the test ends or Stop is
// called, and waits until it is ready.
func start(t *testing.T, args ...string) *apptest.Service {
	t.Helper()
	return apptest.Start(t, build, append([]string{"-bcrypt-cost", "4", "-nats-url", testenv.NATS(t).URL()}, args...)...)
}

// call sends a JSON request (body "" for none) with an optional bearer
// token and decodes a JSON response into out (if not nil).
func call(t *testing.T, method, url, body, token string, out any) (int, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: body %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode, resp.Header
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func login(t *testing.T, base, email, password string) tokens {
	t.Helper()
	var tok tokens
	if status, _ := call(t, http.MethodPost, base+user.LoginPath, `{"email":"`+email+`","password":"`+password+`"}`, "", &tok); status != http.StatusOK {
		t.Fatalf("login %s = %d", email, status)
	}
	return tok
}

const (
	adminPassword = "Adm1n-S3cret-pw"
	userPassword  = "Us3r-S3cret-pw"
	orderSecret   = "0rder-S3rvice-S3cret"
)

func TestRunServes(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys", "signing.pem")
	t.Setenv("USER_SERVICE_ACCOUNTS", "order:"+orderSecret)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-signing-key-file", keyFile, "-generate-key",
		"-admin-email", "Root@Example.com", "-admin-password", adminPassword)
	base := "http://" + inst.HTTPAddr

	if status, _ := call(t, http.MethodGet, base+"/readyz", "", "", nil); status != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", status)
	}
	info, err := os.Stat(keyFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", info, err)
	}
	key, _, err := user.LoadSigningKey(keyFile, false)
	if err != nil {
		t.Fatal(err)
	}

	// Sign up, log in, look at oneself.
	status, header := call(t, http.MethodPost, base+user.UsersPath, `{"email":"ann@example.com","password":"`+userPassword+`","name":"Ann"}`, "", nil)
	if status != http.StatusAccepted || header.Get(requestid.Header) == "" {
		t.Fatalf("sign-up = %d (request id %q)", status, header.Get(requestid.Header))
	}
	tok := login(t, base, "ann@example.com", userPassword)
	var ann user.User
	if status, _ := call(t, http.MethodGet, base+user.MePath, "", tok.AccessToken, &ann); status != http.StatusOK || ann.Email != "ann@example.com" {
		t.Errorf("GET /me = %d %+v", status, ann)
	}

	// The JWKS publishes the key from the file.
	var jwks auth.JWKS
	status, header = call(t, http.MethodGet, base+user.JWKSPath, "", "", &jwks)
	if status != http.StatusOK || len(jwks.Keys) != 1 || header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("JWKS = %d %+v %v", status, jwks, header)
	}
	wantKid := user.KeyID(key.Public().(ed25519.PublicKey))
	if jwks.Keys[0].Kid != wantKid {
		t.Errorf("kid = %q, want %q", jwks.Keys[0].Kid, wantKid)
	}

	// gRPC: the bootstrapped admin may read Ann; Ann may read herself.
	admin := login(t, base, "root@example.com", adminPassword)
	cc, err := grpcx.Dial(inst.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := userv1.NewUserServiceClient(cc)
	for name, token := range map[string]string{"admin": admin.AccessToken, "self": tok.AccessToken} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ctx = metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+token)
		resp, err := client.GetUser(ctx, &userv1.GetUserRequest{Id: ann.ID})
		cancel()
		if err != nil || resp.GetUser().GetEmail() != "ann@example.com" {
			t.Errorf("GetUser as %s = %v, %v", name, resp, err)
		}
	}

	// A service account gets a token as the order service would, which
	// verifies with the published keys and has the service role.
	creds := auth.NewClientCredentials(func() []string { return []string{base + userapi.TokenPath} }, "order", orderSecret, nil)
	serviceToken, err := creds.Token(t.Context())
	if err != nil {
		t.Fatalf("service token: %v", err)
	}
	keys := auth.NewJWKSCache(auth.HTTPJWKSFetcher(nil, func() []string { return []string{base + user.JWKSPath} }), nil)
	id, err := auth.NewVerifier(keys, userapi.Issuer, userapi.Audience).Verify(t.Context(), serviceToken)
	if name, ok := id.Service(); err != nil || !ok || name != "order" {
		t.Errorf("service token verifies as %+v, %v; want the service order", id, err)
	}

	// The calls above, as Prometheus sees them on the internal listener.
	got := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for method, min := range map[string]float64{"SignUp": 1, "Login": 2, "GetMe": 1, "GetJWKS": 1, "GetUser": 2, "ServiceToken": 1} {
		labels := map[string]string{"service": "user", "method": method, "outcome": "success"}
		if v, _ := got.Value("kitshop_requests_total", labels); v < min {
			t.Errorf("kitshop_requests_total%v = %v, want >= %v", labels, v, min)
		}
		if n, _ := got.Count("kitshop_request_duration_seconds", labels); float64(n) < min {
			t.Errorf("kitshop_request_duration_seconds%v count = %d, want >= %v", labels, n, min)
		}
	}
	if v, _ := got.Value("kitshop_db_pool_acquires_total", map[string]string{"pool": "user"}); v < 1 {
		t.Errorf("kitshop_db_pool_acquires_total = %v, want > 0", v)
	}
	for _, name := range []string{"kitshop_db_pool_max_conns", "go_goroutines"} {
		if !got.Has(name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if got.Has("kitshop_ratelimit_rejections_total") {
		t.Errorf("rate-limit rejections without any:\n%s", got)
	}

	if err := inst.Stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	logs := inst.Logs.String()
	for _, want := range []string{`"msg":"signing key ready"`, `"generated":true`, `"op":"ensure_admin"`, `"created":true`,
		`"method":"Login"`, `"msg":"service accounts","names":"order"`, `"op":"service_token"`, `"subject":"service:order"`,
		`"msg":"drained"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	for _, secret := range []string{adminPassword, userPassword, tok.AccessToken, tok.RefreshToken, "PRIVATE KEY", orderSecret, serviceToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret (%.12s…)", secret)
		}
	}
}

// TestRunMetricsLoginThrottle: a login the throttle refuses counts as a
// rejection of the "login" limiter and as outcome "rate_limited"; a wrong
// password before it as "unauthenticated".
func TestRunMetricsLoginThrottle(t *testing.T) {
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-signing-key-file", filepath.Join(t.TempDir(), "signing.pem"), "-generate-key",
		"-login-account-failures", "1", "-login-client-failures", "0")
	base := "http://" + inst.HTTPAddr
	for i, want := range []int{http.StatusUnauthorized, http.StatusTooManyRequests} {
		if status, _ := call(t, http.MethodPost, base+user.LoginPath, `{"email":"nobody@example.com","password":"Wr0ng-passw0rd"}`, "", nil); status != want {
			t.Fatalf("login %d = %d, want %d", i, status, want)
		}
	}
	got := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kitshop_requests_total", map[string]string{"service": "user", "method": "Login", "outcome": "unauthenticated"}, 1},
		{"kitshop_requests_total", map[string]string{"service": "user", "method": "Login", "outcome": "rate_limited"}, 1},
		{"kitshop_ratelimit_rejections_total", map[string]string{"limiter": "login"}, 1},
	} {
		if v, _ := got.Value(tt.name, tt.labels); v != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, v, tt.want)
		}
	}
}

// A restart with the same settings reuses the key and the admin.
func TestRunRestart(t *testing.T) {
	db := testenv.Database(t)
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	args := []string{"-database-url", db, "-consul-addr", "", "-signing-key-file", keyFile, "-generate-key",
		"-admin-email", "root@example.com", "-admin-password", adminPassword}

	first := start(t, args...)
	base := "http://" + first.HTTPAddr
	tok := login(t, base, "root@example.com", adminPassword)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	// Another admin password on the second start changes nothing.
	args[len(args)-1] = "Changed-pw-123"
	second := start(t, args...)
	base = "http://" + second.HTTPAddr
	// A token from the first run still verifies: same key.
	if status, _ := call(t, http.MethodGet, base+user.MePath, "", tok.AccessToken, nil); status != http.StatusOK {
		t.Errorf("GET /me with a token of the previous run = %d, want 200", status)
	}
	login(t, base, "root@example.com", adminPassword)
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := second.Logs.String()
	for _, want := range []string{`"generated":false`, `"created":false`} {
		if !strings.Contains(logs, want) {
			t.Errorf("second run's logs lack %s", want)
		}
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d users after two bootstraps, want 1", n)
	}
}

// Whoever signed up with the admin's email first must not become admin:
// the service refuses to start rather than promote the account.
func TestRunRefusesToPromoteACustomer(t *testing.T) {
	db := testenv.Database(t)
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	args := []string{"-database-url", db, "-consul-addr", "", "-signing-key-file", keyFile, "-generate-key"}
	first := start(t, args...)
	body := `{"email":"Root@example.com","password":"attacker-pw-1","name":"Mallory"}`
	call(t, http.MethodPost, "http://"+first.HTTPAddr+user.UsersPath, body, "", nil)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Setenv(config.DevEnv, "1") // the test database's password is the local stack's
	err := app.Start(ctx, build, append(args, "-http-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-admin-email", "root@example.com", "-admin-password", adminPassword), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refusing to promote") {
		t.Fatalf("run with a customer's email as -admin-email = %v, want a refusal", err)
	}

	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var roles []string
	if err := conn.QueryRow(ctx, `SELECT roles FROM users WHERE email = 'root@example.com'`).Scan(&roles); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(roles, "admin") {
		t.Errorf("the customer was promoted: roles %v", roles)
	}
}

func TestRunWithoutKey(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "missing.pem")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Setenv(config.DevEnv, "1") // the test database's password is the local stack's
	err := app.Start(ctx, build, []string{"-database-url", testenv.Database(t), "-consul-addr", "", "-signing-key-file", keyFile,
		"-http-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Errorf("run without a key file = %v, want a signing key error", err)
	}
	if _, statErr := os.Stat(keyFile); !os.IsNotExist(statErr) {
		t.Error("key file created without -generate-key")
	}
}

func TestRunRegistersInConsul(t *testing.T) {
	c := testenv.Consul(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", c.Addr(), "-instance-id", "user-test-1",
		"-signing-key-file", filepath.Join(t.TempDir(), "k.pem"), "-generate-key")

	var svc *consulapi.AgentService
	deadline := time.Now().Add(20 * time.Second)
	for svc == nil {
		if time.Now().After(deadline) {
			t.Fatalf("not registered after 20s; logs:\n%s", inst.Logs)
		}
		services, err := client.Agent().Services()
		if err == nil {
			svc = services["user-test-1"]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if svc.Service != "user" || !strings.HasSuffix(inst.HTTPAddr, ":"+strconv.Itoa(svc.Port)) {
		t.Errorf("registered %+v, want service user on the port of %s", svc, inst.HTTPAddr)
	}
	if got, want := svc.Meta["api_prefix"], "/api/v1/users,/api/v1/auth"; got != want {
		t.Errorf("api_prefix = %q, want %q", got, want)
	}
	wantPublic := []string{"POST =/api/v1/users", "POST =/api/v1/auth/login", "POST =/api/v1/auth/refresh",
		"POST =/api/v1/auth/logout", "GET =/api/v1/auth/jwks.json", "POST =/api/v1/auth/token"}
	if got := strings.Split(svc.Meta["public_routes"], ","); !slices.Equal(got, wantPublic) {
		t.Errorf("public_routes = %v, want %v", got, wantPublic)
	}
	if !strings.HasSuffix(inst.GRPCAddr, ":"+svc.Meta["grpc_port"]) {
		t.Errorf("grpc_port meta %q, want the port of %s", svc.Meta["grpc_port"], inst.GRPCAddr)
	}
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	services, err := client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := services["user-test-1"]; ok {
		t.Error("still registered after shutdown")
	}
}
