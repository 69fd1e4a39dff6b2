package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/outbox"
)

// TestStandbyTakesOverWhenTheLeaderStops: of two relays one leads (the
// gauge says which); when it stops, its lock goes with its connection and
// the other publishes what comes next.
func TestStandbyTakesOverWhenTheLeaderStops(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	relays := make([]*outbox.Relay, 2)
	for i := range relays {
		r, err := outbox.Start(pool, js, outbox.WithPollInterval(50*time.Millisecond), outbox.WithRegisterer(regs[i]))
		if err != nil {
			t.Fatal(err)
		}
		relays[i] = r
		defer r.Stop() // the leader is stopped twice: Stop allows it
	}
	first := addEvents(t, pool, subj+".e", "a", 3, true)
	waitMsgs(t, stream, len(first))

	leader := -1
	deadline := time.Now().Add(10 * time.Second)
	for leader < 0 && time.Now().Before(deadline) {
		var leading []int
		for i, reg := range regs {
			if mfs, err := reg.Gather(); err == nil && gaugeValue(mfs, "kitshop_outbox_relay_leading") == 1 {
				leading = append(leading, i)
			}
		}
		switch len(leading) {
		case 1:
			leader = leading[0]
		case 2:
			t.Fatal("both relays lead")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if leader < 0 {
		t.Fatal("no relay leads")
	}
	relays[leader].Stop()

	second := addEvents(t, pool, subj+".e", "a", 3, true)
	msgs := waitMsgs(t, stream, len(first)+len(second))
	for i, id := range append(first, second...) {
		if got := msgs[i].Header.Get("Nats-Msg-Id"); got != id.String() {
			t.Fatalf("message %d: Nats-Msg-Id = %s, want %s", i, got, id)
		}
	}
	if mfs, err := regs[1-leader].Gather(); err != nil || gaugeValue(mfs, "kitshop_outbox_relay_leading") != 1 {
		t.Errorf("the standby's kitshop_outbox_relay_leading = %v (%v), want 1 after the takeover",
			gaugeValue(mfs, "kitshop_outbox_relay_leading"), err)
	}
}

// TestRelayPrunesPublishedEventsPastTheRetention: published events older
// than the retention go; newer ones and unpublished ones stay.
func TestRelayPrunesPublishedEventsPastTheRetention(t *testing.T) {
	pool, _, _, subj := setup(t, testenv.NATS(t))
	ctx := context.Background()
	old := addEvents(t, pool, subj+".e", "old", 2, true)
	recent := addEvents(t, pool, subj+".e", "recent", 2, true)
	waiting := addEvents(t, pool, subj+".e", "waiting", 2, true)
	if _, err := pool.Exec(ctx, `UPDATE outbox SET published_at = now() - interval '2 hours' WHERE id = ANY($1)`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE outbox SET published_at = now() - interval '10 minutes' WHERE id = ANY($1)`, recent); err != nil {
		t.Fatal(err)
	}
	// A publisher that always fails leaves the waiting events unpublished.
	relay, err := outbox.Start(pool, failing{}, outbox.WithRetention(time.Hour), outbox.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE id = ANY($1)`, old).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events published 2 h ago are still in the outbox (retention 1 h)", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var kept int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE id = ANY($1)`, append(recent, waiting...)).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != len(recent)+len(waiting) {
		t.Errorf("%d of the recent and unpublished events kept, want %d", kept, len(recent)+len(waiting))
	}
}
