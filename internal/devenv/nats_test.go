package devenv_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/devenv"
)

// TestNATS starts a server, round-trips a JetStream message, restarts the
// server and finds the message still in its stream (file storage in
// StoreDir), then stops it and checks no process is left.
func TestNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "nats.log")
	n, err := devenv.StartNATS(ctx, devenv.NATSConfig{LogPath: logPath, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	defer n.Stop()
	if !strings.HasPrefix(n.URL(), "nats://127.0.0.1:") {
		t.Errorf("URL = %s, want nats://127.0.0.1:port", n.URL())
	}

	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "t.hello", []byte("hi"), jetstream.WithMsgID("m1")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil || string(msg.Data) != "hi" || msg.Subject != "t.hello" {
		t.Fatalf("GetMsg(1) = %+v, %v; want t.hello \"hi\"", msg, err)
	}

	oldPid := n.Process().Pid()
	if err := n.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if alive(oldPid) || n.Process().Pid() == oldPid {
		t.Errorf("old server %d still running after Restart", oldPid)
	}
	// The client reconnects by itself; the stream comes back from disk.
	var info *jetstream.StreamInfo
	for ctx.Err() == nil {
		if info, err = stream.Info(ctx); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream after Restart = %+v, %v; want 1 message", info, err)
	}

	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(n.Process().Pid()) {
		t.Error("nats-server still running after Stop")
	}
}

func TestNATSFixedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = devenv.StartNATS(context.Background(), devenv.NATSConfig{Port: port})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("StartNATS on a busy port = %v, want an 'already in use' error", err)
	}
}

func TestNATSBinaryOverride(t *testing.T) {
	t.Setenv(devenv.EnvNATS, filepath.Join(t.TempDir(), "missing"))
	if _, err := devenv.NATSBinary(); err == nil || !strings.Contains(err.Error(), devenv.EnvNATS) {
		t.Errorf("NATSBinary = %v, want an error naming $%s", err, devenv.EnvNATS)
	}
}

// TestNATSMonitoring starts a server with a monitoring port and finds
// JetStream healthy there, on loopback, before and after a Restart.
func TestNATSMonitoring(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	n, err := devenv.StartNATS(ctx, devenv.NATSConfig{MonitorPort: port, LogPath: filepath.Join(t.TempDir(), "nats.log")})
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	defer n.Stop()
	if want := "http://127.0.0.1:" + strconv.Itoa(port); n.MonitorURL() != want {
		t.Errorf("MonitorURL = %q, want %q", n.MonitorURL(), want)
	}
	for _, phase := range []string{"started", "restarted"} {
		if phase == "restarted" {
			if err := n.Restart(ctx); err != nil {
				t.Fatalf("Restart: %v", err)
			}
		}
		if err := devenv.WaitHTTP(ctx, n.MonitorURL()+"/healthz?js-enabled-only=true", http.StatusOK); err != nil {
			t.Errorf("%s: /healthz: %v", phase, err)
		}
	}
	if got := (&devenv.NATS{}).MonitorURL(); got != "" {
		t.Errorf("MonitorURL without a monitoring port = %q, want empty", got)
	}
}
