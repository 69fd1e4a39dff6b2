package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/config"
)

// natsRecoverTimeout bounds the wait for the supervisor to bring a killed
// broker back: a pause of a second, then JetStream recovering its streams
// from disk.
const natsRecoverTimeout = 60 * time.Second

// TestNATSInStack runs the stack of `make run` — every default service,
// payment and notification from their files — and checks its broker: a NATS
// server with JetStream on loopback, its monitoring port answering, its file
// storage under the run folder; every service and the gateway pointed at it
// through <PREFIX>_NATS_URL in their environment, never a flag (the
// notification service at no mail server), and every instance of a service
// with events connected; the server supervised — SIGKILLed, it is restarted
// on the same port, its log continued, with its streams, messages and
// consumer positions, and the services connect again by themselves; and its
// storage kept after Stop, for the next run.
func TestNATSInStack(t *testing.T) {
	cfg := local.DefaultConfig().WithFreePorts()
	cfg.TempPostgres = true
	cfg.RunDir = t.TempDir()
	cfg.BinDir = buildBinaries(t, cfg.Services)
	stack := startStack(t, cfg)

	if !strings.HasPrefix(stack.NATSURL(), "nats://127.0.0.1:") || !strings.HasPrefix(stack.NATSMonitorURL(), "http://127.0.0.1:") {
		t.Errorf("NATS at %s, monitoring at %s: want both on 127.0.0.1", stack.NATSURL(), stack.NATSMonitorURL())
	}
	if want := filepath.Join(cfg.RunDir, "nats"); stack.NATS().StoreDir() != want {
		t.Errorf("JetStream storage in %s, want %s (under the run folder, kept between runs)", stack.NATS().StoreDir(), want)
	}
	if got := httpStatus(t, stack.NATSMonitorURL()+"/healthz?js-enabled-only=true"); got != http.StatusOK {
		t.Errorf("monitoring /healthz?js-enabled-only=true = %d, want 200", got)
	}

	var summary strings.Builder
	stack.WriteSummary(&summary)
	for _, want := range []string{"nats       " + stack.NATSURL(), stack.NATSMonitorURL() + "/jsz?"} {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("the summary does not show %q:\n%s", want, summary.String())
		}
	}

	t.Run("every process gets the broker by its environment", func(t *testing.T) {
		testNATSEnv(t, stack, cfg.Services)
	})
	// The instances of the services with events, which connect under
	// their instance id.
	clients := eventInstances(t, stack, cfg.BinDir, cfg.Services)
	t.Logf("instances of services with events: %v", clients)
	if err := awaitConnected(stack.NATSMonitorURL(), clients); err != nil {
		t.Errorf("before any fault: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	js := natsClient(t, stack.NATSURL())
	const stream, durable = "KITSHOP_E2E", "e2e"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"kitshop.e2e.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, "kitshop.e2e.event", []byte("event "+strconv.Itoa(i)), jetstream.WithMsgID("e2e-"+strconv.Itoa(i))); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if ci := jetStreamState(ctx, t, js, stream, durable); ci.AckFloor.Stream != 1 {
		t.Errorf("consumer %s: ack floor %d after acknowledging the first message, want 1", durable, ci.AckFloor.Stream)
	}
	if got := jszStreams(t, stack.NATSMonitorURL()); got < 1 {
		t.Errorf("monitoring /jsz counts %d streams, want at least 1", got)
	}

	// The supervisor of `make run`.
	superviseCtx, stopSupervising := context.WithCancel(context.Background())
	supervised := make(chan error, 1)
	go func() { supervised <- stack.Supervise(superviseCtx) }()
	stopSupervision := func() {
		stopSupervising()
		if err := <-supervised; err != nil {
			t.Errorf("Supervise: %v", err)
		}
	}

	var lastSeen *jetstream.ConsumerInfo // the consumer after the restart
	t.Run("SIGKILLed, restarted with its streams", func(t *testing.T) {
		old := stack.NATS().Process()
		url := stack.NATSURL()
		killedAt := time.Now()
		if err := old.Kill(); err != nil {
			t.Fatalf("SIGKILL nats-server: %v", err)
		}
		deadline := killedAt.Add(natsRecoverTimeout)
		for stack.NATS().Process() == old || httpStatus(t, stack.NATSMonitorURL()+"/healthz?js-enabled-only=true") != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("nats-server not restarted and healthy within %s", natsRecoverTimeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("nats-server (pid %d) SIGKILLed; the supervisor had it back (pid %d) %s later",
			old.Pid(), stack.NATS().Process().Pid(), time.Since(killedAt).Round(time.Millisecond))
		if stack.NATSURL() != url {
			t.Errorf("restarted on %s, want the same URL %s", stack.NATSURL(), url)
		}
		if err := awaitConnected(stack.NATSMonitorURL(), clients); err != nil {
			t.Errorf("after the restart, the services did not reconnect: %v", err)
		}
		// Our client reconnects by itself, as the services' do. The
		// messages are all there; the consumer's last acknowledgement may
		// be lost to the SIGKILL (the server writes consumer state to disk
		// in the background), and then the message comes again: delivery
		// is at least once, which the consumers' inboxes absorb.
		ci := jetStreamState(ctx, t, js, stream, durable)
		t.Logf("after the restart: consumer ack floor %d, %d awaiting an ack, %d pending", ci.AckFloor.Stream, ci.NumAckPending, ci.NumPending)
		lastSeen = ci
		logData, err := os.ReadFile(filepath.Join(stack.LogDir(), "nats.log"))
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(logData, []byte("Server is ready")); n < 2 {
			t.Errorf("nats.log tells of %d starts, want both in the one log", n)
		}
	})

	t.Run("storage kept after Stop", func(t *testing.T) {
		stopSupervision()
		proc := stack.NATS().Process()
		if err := stack.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if !gone(proc) {
			t.Errorf("nats-server (pid %d) still running after Stop", proc.Pid())
		}
		// The next run's server, on the same storage.
		next, err := devenv.StartNATS(ctx, devenv.NATSConfig{StoreDir: filepath.Join(cfg.RunDir, "nats"), LogPath: filepath.Join(cfg.RunDir, "next-nats.log")})
		if err != nil {
			t.Fatalf("start NATS on the kept storage: %v", err)
		}
		defer next.Stop()
		// A clean stop loses nothing, the consumer's position included.
		ci := jetStreamState(ctx, t, natsClient(t, next.URL()), stream, durable)
		if lastSeen != nil && ci.AckFloor.Stream != lastSeen.AckFloor.Stream {
			t.Errorf("consumer %s: ack floor %d after a clean stop, want %d as before it", durable, ci.AckFloor.Stream, lastSeen.AckFloor.Stream)
		}
	})
}

// testNATSEnv checks that every instance and the gateway got
// <PREFIX>_NATS_URL with the stack's broker in their environment and no
// -nats-url on their command line, and that the notification service runs
// without a mail server.
func testNATSEnv(t *testing.T, stack *local.Stack, services []local.ServiceSpec) {
	check := func(p *devenv.Process, prefix string) map[string]string {
		t.Helper()
		env := procEnv(t, p.Pid())
		if got, want := env[config.EnvName(prefix, "nats-url")], stack.NATSURL(); got != want {
			t.Errorf("%s: %s_NATS_URL = %q, want %q", p.Name(), strings.ToUpper(prefix), got, want)
		}
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(cmdline, []byte("nats-url")) {
			t.Errorf("%s: -nats-url on the command line; a service without events would reject it", p.Name())
		}
		return env
	}
	check(processNamed(t, stack, "gateway"), "gateway")
	for _, svc := range services {
		for _, inst := range stack.Instances(svc.Name) {
			env := check(inst.Process, svc.Name)
			if svc.Name == "notification" {
				if v, ok := env["NOTIFICATION_SMTP_ADDR"]; !ok || v != "" {
					t.Errorf("%s: NOTIFICATION_SMTP_ADDR = %q (set: %v), want set and empty: no mail server locally", inst.ID, v, ok)
				}
			}
		}
	}
	for _, name := range []string{"payment", "notification"} {
		if len(stack.Instances(name)) == 0 {
			t.Errorf("no %s instance in the stack", name)
		}
	}
}

// eventInstances returns the ids of the instances whose binary takes
// -nats-url (kit/app's Spec.Events): those that must connect to the broker.
func eventInstances(t *testing.T, stack *local.Stack, binDir string, services []local.ServiceSpec) []string {
	t.Helper()
	var ids []string
	for _, svc := range services {
		out, _ := exec.Command(filepath.Join(binDir, svc.Name), "-h").CombinedOutput() // -h exits non-zero
		if !bytes.Contains(out, []byte("-nats-url")) {
			continue
		}
		for _, inst := range stack.Instances(svc.Name) {
			ids = append(ids, inst.ID)
		}
	}
	return ids
}

// awaitConnected waits until every one of ids is connected to NATS, as the
// monitoring /connz tells (kit/app names a connection by its instance id).
func awaitConnected(monitor string, ids []string) error {
	deadline := time.Now().Add(natsRecoverTimeout)
	for {
		var connz struct {
			Connections []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		var missing []string
		resp, err := http.Get(monitor + "/connz?limit=1024")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&connz)
			resp.Body.Close()
		}
		if err == nil {
			names := make([]string, 0, len(connz.Connections))
			for _, c := range connz.Connections {
				names = append(names, c.Name)
			}
			for _, id := range ids {
				if !slices.Contains(names, id) {
					missing = append(missing, id)
				}
			}
			if len(missing) == 0 {
				return nil
			}
			err = fmt.Errorf("not connected: %v", missing)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("within %s: %w", natsRecoverTimeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// procEnv returns the environment a process was started with.
func procEnv(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatalf("environment of pid %d: %v", pid, err)
	}
	env := map[string]string{}
	for kv := range bytes.SplitSeq(data, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

// natsClient connects to url, reconnecting for as long as the test runs.
func natsClient(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// jetStreamState reads the stream's and the durable consumer's state; the
// first calls after a restart may fail while the client reconnects. It
// checks that the stream holds the test's three messages, and that the
// consumer accounts for each: acknowledged, delivered and awaiting its
// acknowledgement, or still to be delivered.
func jetStreamState(ctx context.Context, t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	var (
		si   *jetstream.StreamInfo
		ci   *jetstream.ConsumerInfo
		last error
	)
	deadline := time.Now().Add(natsRecoverTimeout)
	for time.Now().Before(deadline) {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.Stream(actx, stream)
		if err == nil {
			si, err = s.Info(actx)
		}
		if err == nil {
			var c jetstream.Consumer
			if c, err = s.Consumer(actx, durable); err == nil {
				ci, err = c.Info(actx)
			}
		}
		cancel()
		if err == nil {
			break
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	if si == nil || ci == nil {
		t.Fatalf("stream %s or consumer %s not found (last: %v)", stream, durable, last)
	}
	if si.State.Msgs != 3 {
		t.Errorf("stream %s holds %d messages, want 3", stream, si.State.Msgs)
	}
	if n := ci.AckFloor.Stream + uint64(ci.NumAckPending) + ci.NumPending; n != 3 {
		t.Errorf("consumer %s: ack floor %d, %d awaiting an ack, %d pending: %d messages, want 3",
			durable, ci.AckFloor.Stream, ci.NumAckPending, ci.NumPending, n)
	}
	return ci
}

// jszStreams returns the number of streams the monitoring /jsz reports.
func jszStreams(t *testing.T, monitor string) int {
	t.Helper()
	resp, err := http.Get(monitor + "/jsz")
	if err != nil {
		t.Fatalf("GET /jsz: %v", err)
	}
	defer resp.Body.Close()
	var jsz struct {
		Streams int `json:"streams"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		t.Fatalf("/jsz: %v", err)
	}
	return jsz.Streams
}

// httpStatus returns the status of a GET, or 0 when none came.
func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
