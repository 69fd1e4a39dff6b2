package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// TestRunPublishesChanges checks the wiring of the events: the instance
// creates the catalog's stream and its relay publishes a product's changes
// there.
func TestRunPublishesChanges(t *testing.T) {
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "", "-jwks-url", issuer.URL+auth.JWKSPath)
	admin := signer.Token("admin-1", auth.RoleAdmin)
	base := "http://" + inst.HTTPAddr + "/api/v1/products"

	status, _, body := send(t, http.MethodPost, base, admin,
		`{"sku":"EVENT-1","name":"Event mug","price_minor":100,"currency":"EUR","stock":3}`)
	var p struct {
		ID string `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &p) != nil {
		t.Fatalf("create = %d %s", status, body)
	}
	if status, _, body := send(t, http.MethodPatch, base+"/"+p.ID, admin, `{"stock":2}`); status != http.StatusOK {
		t.Fatalf("patch = %d %s", status, body)
	}

	_, js := testenv.JetStream(t, testenv.NATS(t).URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []productv1.ProductChanged_Change
	for len(got) < 2 {
		if ctx.Err() != nil {
			t.Fatalf("events of %s in the stream: %v, want CREATED then STOCK; logs:\n%s", p.ID, got, inst.Logs)
		}
		got = got[:0]
		// The stream is the test binary's: other tests' products are in it.
		stream, err := js.Stream(ctx, productv1.Stream)
		if err == nil {
			got, err = changesOf(ctx, stream, p.ID)
		}
		if err != nil {
			t.Logf("reading the stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != 2 || got[0] != productv1.ProductChanged_CHANGE_CREATED || got[1] != productv1.ProductChanged_CHANGE_STOCK {
		t.Errorf("events of %s = %v, want CREATED then STOCK", p.ID, got)
	}
}

// changesOf returns the kinds of the changes of product id in stream, in
// stream order.
func changesOf(ctx context.Context, stream jetstream.Stream, id string) ([]productv1.ProductChanged_Change, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	var changes []productv1.ProductChanged_Change
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		if msg.Header.Get(outbox.AggregateHeader) != "product/"+id {
			continue
		}
		m, err := events.Unmarshal(msg.Data)
		if err != nil {
			return nil, err
		}
		changes = append(changes, m.Data.(*productv1.ProductChanged).GetChange())
	}
	return changes, nil
}
