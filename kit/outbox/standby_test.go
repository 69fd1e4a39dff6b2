package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/outbox"
)

// TestOtherRelayGoesOnWhenOneStops: of two relays, either may be the one
// publishing; when one stops, the other publishes what comes next, in
// order.
func TestOtherRelayGoesOnWhenOneStops(t *testing.T) {
	for _, stop := range []int{0, 1} {
		t.Run(map[int]string{0: "first stops", 1: "second stops"}[stop], func(t *testing.T) {
			pool, js, stream, subj := setup(t, testenv.NATS(t))
			relays := make([]*outbox.Relay, 2)
			for i := range relays {
				r, err := outbox.Start(pool, js, outbox.WithPollInterval(50*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				relays[i] = r
				defer r.Stop() // the stopped one is stopped twice: Stop allows it
			}
			first := addEvents(t, pool, subj+".e", "a", 3, true)
			waitMsgs(t, stream, len(first))
			relays[stop].Stop()
			second := addEvents(t, pool, subj+".e", "a", 3, true)
			msgs := waitMsgs(t, stream, len(first)+len(second))
			for i, id := range append(first, second...) {
				if got := msgs[i].Header.Get("Nats-Msg-Id"); got != id.String() {
					t.Fatalf("message %d: Nats-Msg-Id = %s, want %s", i, got, id)
				}
			}
		})
	}
}

// TestRelayStandsByWhileTheLockIsTaken: while another session holds the
// relays' lock, a relay woken by commit after commit publishes nothing;
// once the lock is free it publishes everything, in order.
func TestRelayStandsByWhileTheLockIsTaken(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	ctx := context.Background()
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(hashtext('kitshop.outbox.relay'))`); err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.Start(pool, js, outbox.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()
	var want []uuid.UUID
	for range 40 { // a commit every 25 ms for a second
		want = append(want, addEvents(t, pool, subj+".e", "a", 1, true)...)
		time.Sleep(25 * time.Millisecond)
	}
	if info, err := stream.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("stream = %+v, %v: published while another session held the lock", info.State, err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock(hashtext('kitshop.outbox.relay'))`); err != nil {
		t.Fatal(err)
	}
	msgs := waitMsgs(t, stream, len(want))
	for i, id := range want {
		if got := msgs[i].Header.Get("Nats-Msg-Id"); got != id.String() {
			t.Fatalf("message %d: Nats-Msg-Id = %s, want %s", i, got, id)
		}
	}
}
