package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/events"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// TestInvalidationsFollowEvents runs a real nats-server: a product.changed
// event drops the product's answer and the lists, and nothing else; losing
// the broker makes the cache revalidate, and getting it back makes it live.
func TestInvalidationsFollowEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := devenv.StartNATS(ctx, devenv.NATSConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream := events.StreamConfig{Name: productv1.Stream, Subjects: []string{productv1.StreamSubjects}}
	if err := events.EnsureStream(ctx, js, stream); err != nil {
		t.Fatal(err)
	}

	tg, cache, cat, _ := cachedGateway(t, sharedCacheControl, gateway.CacheConfig{}, false)
	inv, err := gateway.StartInvalidations(nc, cache, gateway.DefaultInvalidations, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.Stop)
	waitFor(t, "the cache to go live", cache.Live)

	const id = "0b1c6f0e-4a51-4a0e-9d1f-2f1b8f0e9a11"
	for _, p := range []string{"/api/v1/products/" + id, "/api/v1/products/other", "/api/v1/products?limit=5"} {
		tg.get(t, p)
		if resp, _ := tg.get(t, p); !strings.Contains(cacheStatus(resp), "hit") {
			t.Fatalf("%s not stored: %s", p, cacheStatus(resp))
		}
	}
	cat.version.Store(1)
	ev, err := events.New(ctx, "product", productv1.SubjectChanged, "product/"+id, &productv1.ProductChanged{ProductId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, productv1.SubjectChanged, ev.Payload); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event to drop the product", func() bool {
		_, body := tg.get(t, "/api/v1/products/"+id)
		return body == "v1"
	})
	if _, body := tg.get(t, "/api/v1/products?limit=5"); body != "v1" {
		t.Errorf("list after the event: %q, want v1", body)
	}
	if resp, body := tg.get(t, "/api/v1/products/other"); body != "v0" {
		t.Errorf("another product after the event: %q (%s), want the stored v0", body, cacheStatus(resp))
	}

	srv.Stop()
	waitFor(t, "the cache to stop serving fresh answers", func() bool { return !cache.Live() })
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cache to go live again", cache.Live)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
