package consul_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/consul"
)

// The integration tests run against real Consul dev agents. Checks run every
// second (Consul's minimum), so a health change reaches a watcher within
// about two seconds; the timeouts below allow for a loaded machine.
const (
	checkInterval = time.Second
	healthChange  = 10 * time.Second
)

// liveService is a real HTTP and gRPC server on loopback whose readiness the
// test controls, so Consul's checks pass or fail for real.
type liveService struct {
	httpPort, grpcPort int
	httpReady          atomic.Bool
	grpcHealth         *health.Server
}

func startLiveService(t *testing.T) *liveService {
	t.Helper()
	s := &liveService{grpcHealth: health.NewServer()}
	s.httpReady.Store(true)

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.httpReady.Load() {
			http.Error(w, `{"status":"not_ready"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, s.grpcHealth)
	go func() { _ = gs.Serve(gl) }()
	t.Cleanup(gs.Stop)

	s.httpPort = hl.Addr().(*net.TCPAddr).Port
	s.grpcPort = gl.Addr().(*net.TCPAddr).Port
	return s
}

func (s *liveService) setGRPCServing(serving bool) {
	status := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		status = healthpb.HealthCheckResponse_SERVING
	}
	s.grpcHealth.SetServingStatus("", status)
}

func (s *liveService) registration(name, id string) consul.Registration {
	return consul.Registration{
		Name: name, ID: id, Address: "127.0.0.1", HTTPPort: s.httpPort, GRPCPort: s.grpcPort,
		APIPrefix: "/api/v1/" + name, CheckInterval: checkInterval,
	}
}

// uniqueName keeps tests apart in the shared agent.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func newClient(t *testing.T, addr string) consul.Client {
	t.Helper()
	c, err := consul.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitIDs(t *testing.T, w *consul.Watcher, timeout time.Duration, what string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	eventually(t, timeout, what, func() bool { return slices.Equal(ids(w.Instances()), want) })
}

func TestIntegrationRegisterWatchDeregister(t *testing.T) {
	agent := testenv.Consul(t)
	client := newClient(t, agent.Addr())
	svc := startLiveService(t)
	name := uniqueName("itest")
	id := name + "-1"

	w := consul.NewWatcher(client, name, testLogger(t))
	t.Cleanup(w.Stop)
	ready(t, w)
	if got := w.Instances(); len(got) != 0 {
		t.Fatalf("before registration: %v", ids(got))
	}
	services := consul.NewServicesWatcher(client, consul.TagAPI, testLogger(t))
	t.Cleanup(services.Stop)

	r := consul.NewRegistrar(client, svc.registration(name, id), testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Register(ctx); err != nil {
		t.Fatalf("Register: %v", err)
	}

	t.Run("registered with both checks", func(t *testing.T) {
		entries, _, err := client.Service(ctx, name, "", false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("%d entries, want 1", len(entries))
		}
		e := entries[0]
		if e.Service.ID != id || e.Service.Port != svc.httpPort || !slices.Contains(e.Service.Tags, consul.TagAPI) {
			t.Errorf("service = %+v, want ID %s, port %d, tag api", e.Service, id, svc.httpPort)
		}
		var types []string
		for _, c := range e.Checks {
			if c.ServiceID == id {
				types = append(types, c.Type)
			}
		}
		slices.Sort(types)
		if want := []string{"grpc", "http"}; !slices.Equal(types, want) {
			t.Errorf("check types = %v, want %v", types, want)
		}
		known, err := client.Registered(ctx, id)
		if err != nil || !known {
			t.Errorf("Registered() = %v, %v; want true", known, err)
		}
	})

	t.Run("watcher sees it once checks pass", func(t *testing.T) {
		waitIDs(t, w, healthChange, "instance passing", id)
		got := w.Instances()[0]
		if got.HTTPPort != svc.httpPort || got.GRPCPort != svc.grpcPort || got.APIPrefix != "/api/v1/"+name || got.Address != "127.0.0.1" {
			t.Errorf("instance = %+v", got)
		}
		eventually(t, healthChange, "service listed with tag api", func() bool { return slices.Contains(services.Services(), name) })
	})

	t.Run("not ready over HTTP: gone", func(t *testing.T) {
		svc.httpReady.Store(false)
		waitIDs(t, w, healthChange, "instance dropped")
		svc.httpReady.Store(true)
		waitIDs(t, w, healthChange, "instance back", id)
	})

	t.Run("not serving over gRPC: gone", func(t *testing.T) {
		svc.setGRPCServing(false)
		waitIDs(t, w, healthChange, "instance dropped")
		svc.setGRPCServing(true)
		waitIDs(t, w, healthChange, "instance back", id)
	})

	t.Run("deregistered: gone", func(t *testing.T) {
		if err := r.Deregister(context.Background()); err != nil {
			t.Fatalf("Deregister: %v", err)
		}
		waitIDs(t, w, 2*time.Second, "instance removed")
		known, err := client.Registered(ctx, id)
		if err != nil || known {
			t.Errorf("Registered() = %v, %v; want false", known, err)
		}
		eventually(t, 2*time.Second, "service no longer listed", func() bool { return !slices.Contains(services.Services(), name) })
	})
}

// TestIntegrationConsulOutage follows one instance through Consul's life:
// the service starts before Consul, Consul goes away, Consul comes back
// empty (a -dev agent keeps nothing).
func TestIntegrationConsulOutage(t *testing.T) {
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "consul.log")
	startAgent := func(t *testing.T) *devenv.Consul {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		agent, err := devenv.StartConsul(ctx, devenv.ConsulConfig{HTTPPort: port, LogPath: logPath})
		if err != nil {
			t.Fatalf("start consul: %v", err)
		}
		t.Cleanup(func() { _ = agent.Stop() })
		return agent
	}

	client := newClient(t, "127.0.0.1:"+itoa(port))
	svc := startLiveService(t)
	name := uniqueName("outage")
	id := name + "-1"
	retry := consul.WithBackoff(50*time.Millisecond, 500*time.Millisecond)

	r := consul.NewRegistrar(client, svc.registration(name, id), testLogger(t), retry, consul.WithRecheckInterval(200*time.Millisecond))
	t.Cleanup(func() { _ = r.Deregister(context.Background()) })
	const grace = 4 * time.Second
	w := consul.NewWatcher(client, name, testLogger(t), retry, consul.WithRecoveryGrace(grace))
	t.Cleanup(w.Stop)

	var agent *devenv.Consul
	ok := t.Run("registrar started before Consul registers once it is up", func(t *testing.T) {
		registered := make(chan error, 1)
		go func() { registered <- r.Register(context.Background()) }()
		time.Sleep(500 * time.Millisecond) // a few attempts against nothing
		select {
		case err := <-registered:
			t.Fatalf("Register returned %v with no Consul running", err)
		default:
		}

		agent = startAgent(t)
		if err := receive(t, registered, 10*time.Second); err != nil {
			t.Fatalf("Register: %v", err)
		}
		ready(t, w)
		waitIDs(t, w, healthChange, "instance passing", id)
	})
	if !ok {
		return
	}

	ok = t.Run("watcher keeps the last known instances while Consul is down", func(t *testing.T) {
		if err := agent.Stop(); err != nil {
			t.Fatalf("stop consul: %v", err)
		}
		probe, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := client.Registered(probe, id); err == nil {
			t.Fatal("Consul still answers after Stop")
		}
		for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got := ids(w.Instances()); !slices.Equal(got, []string{id}) {
				t.Fatalf("Instances() during outage = %v, want [%s]", got, id)
			}
		}
	})
	if !ok {
		return
	}

	t.Run("registrar registers again after Consul restarts", func(t *testing.T) {
		startAgent(t)
		// Until the instance is passing in the new agent, the watcher keeps
		// the last known instance (recovery grace) instead of dropping it.
		eventually(t, healthChange, "passing in the restarted agent", func() bool {
			if got := ids(w.Instances()); !slices.Equal(got, []string{id}) {
				t.Fatalf("Instances() after restart = %v, want [%s] throughout", got, id)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			entries, _, err := client.Service(ctx, name, "", true, nil)
			return err == nil && len(entries) == 1
		})

		// The watcher must now follow the new agent, whose index started
		// over: a deregistration shows up promptly.
		time.Sleep(200 * time.Millisecond) // let the watcher take the passing answer
		if err := r.Deregister(context.Background()); err != nil {
			t.Errorf("Deregister: %v", err)
		}
		waitIDs(t, w, 2*time.Second, "instance removed")
	})
}
