package local_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
)

// liveWithin is how soon a live setting must show from outside: the promise
// of kit/liveconfig (a blocking query answers as soon as Consul commits).
const liveWithin = time.Second

// TestKitctl drives the kitctl binary against the real stack, as an
// operator would: the services and their instances, describe and call by
// server reflection, health, the live configuration (a rate limit, a
// timeout and the log level changed and observed from outside, an invalid
// value refused by kitctl and ignored by the gateway) and a dead letter
// replayed.
func TestKitctl(t *testing.T) {
	cfg := e2eConfig(t)
	cfg.BinDir = buildBinaries(t, cfg.Services)
	k := &kitctl{bin: buildKitctl(t, cfg.BinDir)}
	stack := startStack(t, cfg)
	k.env = []string{
		"KITCTL_CONSUL=" + stack.ConsulAddr(), "KITCTL_NATS=" + stack.NATSURL(), "KITCTL_GATEWAY=" + stack.GatewayURL(),
		"KITCTL_CONFIG_DIR=" + t.TempDir(), "KITCTL_AUTHOR=e2e-operator", "HOME=" + t.TempDir(),
	}

	t.Run("services lists every instance", func(t *testing.T) { testKitctlServices(t, k, stack) })
	t.Run("health", func(t *testing.T) {
		if out, code := k.run(t, "health"); code != 0 || !strings.Contains(out, "passing") {
			t.Errorf("kitctl health = exit %d\n%s", code, out)
		}
	})
	t.Run("describe product", func(t *testing.T) { testKitctlDescribe(t, k) })
	t.Run("call", func(t *testing.T) { testKitctlCall(t, k, cfg) })
	t.Run("rate limit changed live", func(t *testing.T) { testKitctlRateLimit(t, k, stack) })
	t.Run("invalid value", func(t *testing.T) { testKitctlInvalid(t, k, stack) })
	t.Run("timeout changed live", func(t *testing.T) { testKitctlTimeout(t, k, stack) })
	t.Run("log level changed live", func(t *testing.T) { testKitctlLogLevel(t, k, stack) })
	t.Run("dead letter replayed", func(t *testing.T) { testKitctlReplay(t, k, stack) })
}

// kitctl runs the kitctl binary with the stack's addresses.
type kitctl struct {
	bin string
	env []string
}

// run runs kitctl and returns its standard output (and error, on a
// failure) and exit code.
func (k *kitctl) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return k.runIn(t, "", args...)
}

func (k *kitctl) runIn(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), k.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit):
		return stdout.String() + stderr.String(), exit.ExitCode()
	default:
		t.Fatalf("kitctl %s: %v", strings.Join(args, " "), err)
		return "", -1
	}
}

// json runs kitctl -o json and decodes its output into v; it must succeed.
func (k *kitctl) json(t *testing.T, v any, args ...string) {
	t.Helper()
	out, code := k.run(t, append([]string{"-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("kitctl -o json %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kitctl -o json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// must runs kitctl; it must succeed.
func (k *kitctl) must(t *testing.T, args ...string) string {
	t.Helper()
	out, code := k.run(t, args...)
	if code != 0 {
		t.Fatalf("kitctl %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func buildKitctl(t *testing.T, dir string) string {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kitctl")
	cmd := exec.Command(goTool, "build", "-o", bin, "./kit/cmd/kitctl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build kitctl: %v\n%s", err, out)
	}
	return bin
}

func testKitctlServices(t *testing.T, k *kitctl, stack *local.Stack) {
	var got []struct {
		Service, ID, Health, HTTP, GRPC, Version string
		Prefixes                                 []string
	}
	k.json(t, &got, "services")
	for _, svc := range []string{"user", "product", "order", "payment", "notification", "web"} {
		insts := stack.Instances(svc)
		if len(insts) == 0 {
			t.Fatalf("the stack has no %s instance", svc)
		}
		for _, in := range insts {
			i := slices.IndexFunc(got, func(g struct {
				Service, ID, Health, HTTP, GRPC, Version string
				Prefixes                                 []string
			}) bool {
				return g.ID == in.ID
			})
			if i < 0 {
				t.Errorf("kitctl services lacks %s", in.ID)
				continue
			}
			g := got[i]
			if g.Service != svc || g.Health != api.HealthPassing || g.HTTP != in.HTTPAddr || g.Version == "" {
				t.Errorf("kitctl services: %s = %+v, want service %s, passing, http %s, a version", in.ID, g, svc, in.HTTPAddr)
			}
			// The storefront serves no gRPC, whatever port the stack gave it.
			if in.GRPCAddr != "" && svc != "web" && g.GRPC != in.GRPCAddr {
				t.Errorf("kitctl services: %s grpc = %q, want %q", in.ID, g.GRPC, in.GRPCAddr)
			}
		}
	}
	text := k.must(t, "services")
	for _, want := range []string{"SERVICE", "INSTANCE", "HEALTH", "/api/v1/products"} {
		if !strings.Contains(text, want) {
			t.Errorf("kitctl services lacks %q:\n%s", want, text)
		}
	}
}

func testKitctlDescribe(t *testing.T, k *kitctl) {
	var d struct {
		Instances []struct{ ID string }
		Routes    []struct{ Route, Access string }
		GRPC      []struct {
			Name     string
			Methods  []struct{ Name, Request, Response string }
			Messages []string
		}
	}
	k.json(t, &d, "describe", "product")
	if len(d.Instances) < 2 || len(d.GRPC) != 1 || d.GRPC[0].Name != "kitshop.product.v1.ProductService" {
		t.Fatalf("describe product = %+v", d)
	}
	var methods []string
	for _, m := range d.GRPC[0].Methods {
		methods = append(methods, m.Name)
	}
	for _, want := range []string{"ListProducts", "GetProduct", "CreateProduct", "UpdateProduct", "DeleteProduct", "BatchGetProducts", "ReserveStock", "ReleaseStock"} {
		if !slices.Contains(methods, want) {
			t.Errorf("describe product methods = %v, want %s among them", methods, want)
		}
	}
	if !slices.ContainsFunc(d.GRPC[0].Messages, func(m string) bool { return strings.HasPrefix(m, "message GetProductRequest {") }) {
		t.Errorf("describe product messages lack GetProductRequest:\n%s", strings.Join(d.GRPC[0].Messages, "\n"))
	}
	if !slices.ContainsFunc(d.Routes, func(r struct{ Route, Access string }) bool {
		return r.Access == "public" && strings.HasPrefix(r.Route, "GET ")
	}) {
		t.Errorf("describe product routes = %+v, want public GET routes", d.Routes)
	}
	text := k.must(t, "describe", "product")
	if !strings.Contains(text, "rpc GetProduct(kitshop.product.v1.GetProductRequest) returns (kitshop.product.v1.GetProductResponse)") {
		t.Errorf("describe product text lacks GetProduct:\n%s", text)
	}
}

func testKitctlCall(t *testing.T, k *kitctl, cfg local.Config) {
	var list struct {
		Products []struct{ ID, Name string }
	}
	k.json(t, &list, "call", "product", "ListProducts", `{"limit": 2}`)
	if len(list.Products) == 0 {
		t.Fatal("call product ListProducts returned no product (the catalog is seeded)")
	}
	var got struct {
		Product struct{ ID, Name string }
	}
	k.json(t, &got, "call", "product", "ProductService/GetProduct", `{"id":"`+list.Products[0].ID+`"}`)
	if got.Product.ID != list.Products[0].ID || got.Product.Name != list.Products[0].Name {
		t.Errorf("call GetProduct = %+v, want %+v", got.Product, list.Products[0])
	}

	// Errors name their kind: unknown, invalid, and without a token.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not found", []string{"call", "product", "GetProduct", `{"id":"00000000-0000-4000-8000-000000000000"}`}, "not_found"},
		{"bad id", []string{"call", "product", "GetProduct", `{"id":"nope"}`}, "invalid"},
		{"bad json", []string{"call", "product", "GetProduct", `{"idd":1}`}, "invalid"},
		{"no token", []string{"call", "order", "ListOrders"}, "unauthenticated"},
		{"no method", []string{"call", "product", "Nope"}, "no method"},
	} {
		if out, code := k.run(t, tc.args...); code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: kitctl %s = exit %d %q, want a failure naming %q", tc.name, strings.Join(tc.args, " "), code, out, tc.want)
		}
	}

	// With the admin's token, stored by kitctl login, user and order answer.
	out, code := k.runIn(t, cfg.AdminPassword, "login", "--email", cfg.AdminEmail, "--password-stdin")
	if code != 0 {
		t.Fatalf("kitctl login: exit %d %s", code, out)
	}
	var dir string
	for _, e := range k.env {
		if d, ok := strings.CutPrefix(e, "KITCTL_CONFIG_DIR="); ok {
			dir = d
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatalf("stored token: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("stored token mode %v, want 0600", fi.Mode().Perm())
	}
	token, _ := os.ReadFile(filepath.Join(dir, "token"))
	var orders struct{ Orders []any }
	k.json(t, &orders, "call", "order", "ListOrders")
	var user struct{ User struct{ ID, Email string } }
	k.json(t, &user, "call", "user", "GetUser", `{"id":"`+tokenSubject(t, strings.TrimSpace(string(token)))+`"}`)
	if user.User.Email != cfg.AdminEmail {
		t.Errorf("call user GetUser = %+v, want the admin %s", user.User, cfg.AdminEmail)
	}
}

// tokenSubject reads the "sub" of a JWT without checking it.
func tokenSubject(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("stored token is no JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Sub string }
	if err == nil {
		err = json.Unmarshal(raw, &claims)
	}
	if err != nil || claims.Sub == "" {
		t.Fatalf("stored token's claims: %v %s", err, raw)
	}
	return claims.Sub
}

// gatewayStatus sends one GET of the catalog through the gateway.
func gatewayStatus(t *testing.T, stack *local.Stack, path string) int {
	t.Helper()
	resp, err := http.Get(stack.GatewayURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// within polls cond every 10ms until it holds or d passes.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
