package consul_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/hashicorp/consul/api"

	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
)

// Registrar must satisfy kit/server's Registrar (declared there, so it is
// spelled out here to keep this package free of that import).
var _ interface {
	Register(context.Context) error
	Deregister(context.Context) error
} = (*consul.Registrar)(nil)

func TestRegistrationSentToConsul(t *testing.T) {
	tests := []struct {
		name string
		reg  consul.Registration
		want *api.AgentServiceRegistration
	}{
		{
			name: "full",
			reg: consul.Registration{
				Name: "product", ID: "product-1", Address: "10.1.2.3", HTTPPort: 8081, GRPCPort: 9081,
				APIPrefix: "/api/v1/products", Meta: map[string]string{"version": "1.2", consul.MetaHTTPPort: "1"},
				Tags: []string{"blue"}, CheckInterval: 5 * time.Second, CheckTimeout: 3 * time.Second,
				DeregisterCriticalAfter: 10 * time.Minute,
			},
			want: &api.AgentServiceRegistration{
				ID: "product-1", Name: "product", Address: "10.1.2.3", Port: 8081,
				Tags: []string{"blue", "api"},
				Meta: map[string]string{"version": "1.2", "http_port": "8081", "grpc_port": "9081", "api_prefix": "/api/v1/products"},
				Checks: api.AgentServiceChecks{
					{
						CheckID: "service:product-1:readyz", Name: "HTTP /readyz", HTTP: "http://10.1.2.3:8081/readyz", Method: "GET",
						Interval: "5s", Timeout: "3s", DeregisterCriticalServiceAfter: "10m0s",
					},
					{
						CheckID: "service:product-1:grpc", Name: "gRPC health", GRPC: "10.1.2.3:9081",
						Interval: "5s", Timeout: "3s", DeregisterCriticalServiceAfter: "10m0s",
					},
				},
			},
		},
		{
			name: "defaults, no gRPC, no API",
			reg:  consul.Registration{Name: "worker", ID: "w1", Address: "::1", HTTPPort: 7000},
			want: &api.AgentServiceRegistration{
				ID: "w1", Name: "worker", Address: "::1", Port: 7000,
				Meta: map[string]string{"http_port": "7000"},
				Checks: api.AgentServiceChecks{{
					CheckID: "service:w1:readyz", Name: "HTTP /readyz", HTTP: "http://[::1]:7000/readyz", Method: "GET",
					Interval: "2s", Timeout: "1s", DeregisterCriticalServiceAfter: "1m0s",
				}},
			},
		},
		{
			name: "api tag not duplicated",
			reg:  consul.Registration{Name: "cart", ID: "c1", Address: "127.0.0.1", HTTPPort: 1, GRPCPort: 2, APIPrefix: "/c", Tags: []string{"api"}},
			want: &api.AgentServiceRegistration{
				ID: "c1", Name: "cart", Address: "127.0.0.1", Port: 1, Tags: []string{"api"},
				Meta: map[string]string{"http_port": "1", "grpc_port": "2", "api_prefix": "/c"},
				Checks: api.AgentServiceChecks{
					{
						CheckID: "service:c1:readyz", Name: "HTTP /readyz", HTTP: "http://127.0.0.1:1/readyz", Method: "GET",
						Interval: "2s", Timeout: "1s", DeregisterCriticalServiceAfter: "1m0s",
					},
					{
						CheckID: "service:c1:grpc", Name: "gRPC health", GRPC: "127.0.0.1:2",
						Interval: "2s", Timeout: "1s", DeregisterCriticalServiceAfter: "1m0s",
					},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeConsul()
			r := consul.NewRegistrar(fc, tt.reg, testLogger(t), fast()...)
			if err := r.Register(context.Background()); err != nil {
				t.Fatalf("Register: %v", err)
			}
			t.Cleanup(func() { _ = r.Deregister(context.Background()) })

			got, ok := fc.registration(tt.reg.ID)
			if !ok {
				t.Fatalf("instance %q not registered", tt.reg.ID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("registration:\n got %+v\nwant %+v", describe(got), describe(tt.want))
			}
		})
	}
}

// describe flattens a registration for readable failure messages.
func describe(r *api.AgentServiceRegistration) map[string]any {
	checks := make([]api.AgentServiceCheck, len(r.Checks))
	for i, c := range r.Checks {
		checks[i] = *c
	}
	return map[string]any{"ID": r.ID, "Name": r.Name, "Address": r.Address, "Port": r.Port, "Tags": r.Tags, "Meta": r.Meta, "Checks": checks}
}

func TestRegistrarDefaultID(t *testing.T) {
	reg := consul.Registration{Name: "product", Address: "127.0.0.1", HTTPPort: 8081}
	a := consul.NewRegistrar(newFakeConsul(), reg, log.NewNopLogger())
	b := consul.NewRegistrar(newFakeConsul(), reg, log.NewNopLogger())
	if !regexp.MustCompile(`^product-[0-9a-f]{16}$`).MatchString(a.ID()) {
		t.Errorf("ID() = %q, want product-<16 hex digits>", a.ID())
	}
	if a.ID() == b.ID() {
		t.Errorf("two registrars got the same ID %q", a.ID())
	}
}

func TestRegistrationInvalid(t *testing.T) {
	valid := consul.Registration{Name: "product", Address: "127.0.0.1", HTTPPort: 8081, GRPCPort: 9081}
	tests := []struct {
		name      string
		change    func(*consul.Registration)
		wantField string
	}{
		{"no name", func(r *consul.Registration) { r.Name = "" }, "Name"},
		{"slash in name", func(r *consul.Registration) { r.Name = "a/b" }, "Name"},
		{"space in id", func(r *consul.Registration) { r.ID = "a b" }, "ID"},
		{"no address", func(r *consul.Registration) { r.Address = "" }, "Address"},
		{"no http port", func(r *consul.Registration) { r.HTTPPort = 0 }, "HTTPPort"},
		{"http port too big", func(r *consul.Registration) { r.HTTPPort = 70000 }, "HTTPPort"},
		{"negative grpc port", func(r *consul.Registration) { r.GRPCPort = -1 }, "GRPCPort"},
		{"relative api prefix", func(r *consul.Registration) { r.APIPrefix = "api" }, "APIPrefix"},
		{"interval below 1s", func(r *consul.Registration) { r.CheckInterval = 500 * time.Millisecond }, "CheckInterval"},
		{"negative timeout", func(r *consul.Registration) { r.CheckTimeout = -time.Second }, "CheckTimeout"},
		{"deregister below 1m", func(r *consul.Registration) { r.DeregisterCriticalAfter = 30 * time.Second }, "DeregisterCriticalAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := valid
			tt.change(&reg)
			fc := newFakeConsul()
			r := consul.NewRegistrar(fc, reg, testLogger(t))

			err := r.Register(context.Background())
			if got := errs.KindOf(err); err == nil || got != errs.Invalid {
				t.Fatalf("Register() = %v (kind %v), want an Invalid error", err, got)
			}
			if !slices.ContainsFunc(errs.FieldsOf(err), func(f errs.FieldError) bool { return f.Field == tt.wantField }) {
				t.Errorf("fields %v do not name %s", errs.FieldsOf(err), tt.wantField)
			}
			if got := fc.callCount("Register"); got != 0 {
				t.Errorf("Register calls to Consul = %d, want 0", got)
			}
			if r.Registration() != nil {
				t.Errorf("Registration() = %+v, want nil for an invalid registration", r.Registration())
			}
			if err := r.Deregister(context.Background()); err != nil {
				t.Errorf("Deregister() = %v, want nil", err)
			}
			if got := fc.callCount("Deregister"); got != 0 {
				t.Errorf("Deregister calls to Consul = %d, want 0", got)
			}
		})
	}
}

func validRegistration(id string) consul.Registration {
	return consul.Registration{Name: "product", ID: id, Address: "127.0.0.1", HTTPPort: 8081, GRPCPort: 9081}
}

func TestRegisterRetriesUntilConsulIsUp(t *testing.T) {
	fc := newFakeConsul()
	fc.setDown(true)
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	t.Cleanup(func() { _ = r.Deregister(context.Background()) })

	done := make(chan error, 1)
	go func() { done <- r.Register(context.Background()) }()

	eventually(t, 2*time.Second, "three failed attempts", func() bool { return fc.callCount("Register") >= 3 })
	select {
	case err := <-done:
		t.Fatalf("Register returned %v while Consul was down", err)
	default:
	}
	fc.setDown(false)

	if err := receive(t, done, 2*time.Second); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, ok := fc.registration("p1"); !ok {
		t.Error("instance not registered after Consul came up")
	}
}

func TestRegisterEndsWithContext(t *testing.T) {
	fc := newFakeConsul()
	fc.setDown(true)
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	t.Cleanup(func() { _ = r.Deregister(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := r.Register(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Register() = %v, want context.DeadlineExceeded", err)
	}
}

func TestDeregisterInterruptsRegister(t *testing.T) {
	fc := newFakeConsul()
	fc.setDown(true)
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), consul.WithBackoff(time.Hour, time.Hour))

	done := make(chan error, 1)
	go func() { done <- r.Register(context.Background()) }()
	eventually(t, 2*time.Second, "first attempt", func() bool { return fc.callCount("Register") >= 1 })

	start := time.Now()
	_ = r.Deregister(context.Background()) // Consul is down: an error is expected and fine
	if err := receive(t, done, time.Second); !errors.Is(err, consul.ErrStopped) {
		t.Errorf("Register() = %v, want ErrStopped", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Deregister took %v, want it to interrupt the hour-long backoff", took)
	}
	if err := r.Register(context.Background()); !errors.Is(err, consul.ErrStopped) {
		t.Errorf("Register after Deregister = %v, want ErrStopped", err)
	}
}

func TestRegisterRejectedByConsul(t *testing.T) {
	fc := newFakeConsul()
	fc.set(func(f *fakeConsul) { f.registerErr = api.StatusError{Code: 400, Body: "Invalid Service Meta"} })
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	t.Cleanup(func() { _ = r.Deregister(context.Background()) })

	err := r.Register(context.Background())
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Register() = %v, want an Invalid error", err)
	}
	if got := fc.callCount("Register"); got != 1 {
		t.Errorf("Register calls = %d, want 1 (a rejected registration is not retried)", got)
	}
}

func TestRegistrarRegistersAgainAfterConsulRestart(t *testing.T) {
	fc := newFakeConsul()
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	t.Cleanup(func() { _ = r.Deregister(context.Background()) })
	if err := r.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}

	fc.setDown(true)
	eventually(t, 2*time.Second, "recheck while down", func() bool { return fc.callCount("Registered") >= 2 })
	fc.restart(1)

	eventually(t, 2*time.Second, "registration after restart", func() bool {
		_, ok := fc.registration("p1")
		return ok
	})
	if got := fc.callCount("Register"); got != 2 {
		t.Errorf("Register calls = %d, want 2 (initial and after restart)", got)
	}
}

func TestDeregister(t *testing.T) {
	fc := newFakeConsul()
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	if err := r.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	eventually(t, time.Second, "recheck loop running", func() bool { return fc.callCount("Registered") >= 1 })

	if err := r.Deregister(context.Background()); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if _, ok := fc.registration("p1"); ok {
		t.Error("instance still registered after Deregister")
	}

	// The recheck loop must be gone: otherwise it would register us again.
	checks := fc.callCount("Registered")
	time.Sleep(100 * time.Millisecond)
	if got := fc.callCount("Registered"); got != checks {
		t.Errorf("rechecks after Deregister: %d, want 0", got-checks)
	}
	if _, ok := fc.registration("p1"); ok {
		t.Error("instance registered again after Deregister")
	}

	if err := r.Deregister(context.Background()); err != nil {
		t.Errorf("second Deregister = %v, want nil", err)
	}
	if got := fc.callCount("Deregister"); got != 1 {
		t.Errorf("Deregister calls to Consul = %d, want 1", got)
	}
}

func TestDeregisterFailureIsReported(t *testing.T) {
	fc := newFakeConsul()
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	if err := r.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	fc.setDown(true)
	if err := r.Deregister(context.Background()); !errors.Is(err, errDown) {
		t.Errorf("Deregister() = %v, want the Consul error", err)
	}
	if got := fc.callCount("Deregister"); got != 1 {
		t.Errorf("Deregister calls = %d, want exactly 1 attempt", got)
	}
}

func TestDeregisterBeforeRegister(t *testing.T) {
	fc := newFakeConsul()
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t))
	if err := r.Deregister(context.Background()); err != nil {
		t.Errorf("Deregister() = %v, want nil", err)
	}
	if got := fc.callCount("Deregister"); got != 0 {
		t.Errorf("Deregister calls = %d, want 0", got)
	}
}

func TestRegisterTwice(t *testing.T) {
	fc := newFakeConsul()
	r := consul.NewRegistrar(fc, validRegistration("p1"), testLogger(t), fast()...)
	t.Cleanup(func() { _ = r.Deregister(context.Background()) })
	if err := r.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if err := r.Register(context.Background()); err == nil {
		t.Error("second Register succeeded, want an error")
	}
}
