package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kitshop/kitshop/internal/devenv"
)

// NATS returns the test binary's NATS server with JetStream, starting it on
// first use. Its streams are shared by the binary's tests: create streams
// and subjects under names unique to the test. A test that stops or
// restarts a server must use OwnNATS instead.
func NATS(t testing.TB) *devenv.NATS {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("testenv: call testenv.Main(m) from TestMain so the shared servers are stopped")
	}
	if shared.nats == nil && shared.natsErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.nats, shared.natsErr = devenv.StartNATS(ctx, devenv.NATSConfig{})
	}
	if shared.natsErr != nil {
		t.Fatalf("testenv: NATS unavailable (run `make deps` if the binary is missing): %v", shared.natsErr)
	}
	return shared.nats
}

// OwnNATS starts a NATS server for the test alone, stopped when the test
// ends: for tests that take the broker down (Pause, Restart) and must not
// pull it from under other tests. Its log is in the test's temp directory.
func OwnNATS(t testing.TB) *devenv.NATS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	dir := t.TempDir()
	n, err := devenv.StartNATS(ctx, devenv.NATSConfig{
		StoreDir: filepath.Join(dir, "store"),
		LogPath:  filepath.Join(dir, "nats.log"),
	})
	if err != nil {
		t.Fatalf("testenv: NATS unavailable (run `make deps` if the binary is missing): %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("testenv: stop nats: %v", err)
		}
	})
	return n
}
