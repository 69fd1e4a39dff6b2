package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/postgres"
)

// event is one callback of a ListenHandler, in the order they came.
type event struct {
	kind    string // "connected", "notify" or "lost"
	payload string
}

func TestListenDeliversAndReconnects(t *testing.T) {
	pool := migrated(t)
	events := make(chan event, 64)
	h := postgres.ListenHandler{
		Notify:    func(p string) { events <- event{"notify", p} },
		Connected: func() { events <- event{"connected", ""} },
		Lost:      func(error) { events <- event{"lost", ""} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- postgres.Listen(ctx, pool, "kit test channel", h) }()

	next := func(want string) event {
		t.Helper()
		select {
		case e := <-events:
			if e.kind != want {
				t.Fatalf("event %q (%q), want %q", e.kind, e.payload, want)
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q event after 10s", want)
		}
		return event{}
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT pg_notify('kit test channel', $1)`, payload); err != nil {
			t.Fatal(err)
		}
	}

	next("connected")
	notify("one")
	if e := next("notify"); e.payload != "one" {
		t.Errorf("payload %q, want one", e.payload)
	}

	// A notification sent in a transaction that rolls back never arrives;
	// one that commits arrives after the commit.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx.Exec(ctx, `SELECT pg_notify('kit test channel', 'rolled back')`)
	tx.Rollback(ctx)
	notify("two")
	if e := next("notify"); e.payload != "two" {
		t.Errorf("payload %q, want two (the rolled-back one must not arrive)", e.payload)
	}

	// The server drops the listening connection: Lost, then Connected again,
	// and notifications flow once more.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN%' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	next("lost")
	next("connected")
	notify("three")
	if e := next("notify"); e.payload != "three" {
		t.Errorf("payload %q after reconnecting, want three", e.payload)
	}

	// Longer than the ping interval without a notification: the connection
	// is pinged, not dropped, and still delivers.
	time.Sleep(6 * time.Second)
	notify("four")
	if e := next("notify"); e.payload != "four" {
		t.Errorf("payload %q after a quiet spell, want four", e.payload)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Listen returned %v after ctx ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return after ctx ended")
	}
}

func TestListenRejectsEmptyChannel(t *testing.T) {
	if err := postgres.Listen(context.Background(), nil, "", postgres.ListenHandler{}); err == nil {
		t.Error("Listen with an empty channel returned nil")
	}
}
