package local_test

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// testKitctlRateLimit lowers the gateway's per-client limit with kitctl:
// 429s start within a second; raising it stops them within a second.
func testKitctlRateLimit(t *testing.T, k *kitctl, stack *local.Stack) {
	const path = "/api/v1/products?limit=1"
	if got := gatewayStatus(t, stack, path); got != http.StatusOK {
		t.Fatalf("GET %s = %d before the change, want 200", path, got)
	}
	k.must(t, "config", "set", "gateway", "rate-burst", "1")
	k.must(t, "config", "set", "gateway", "rate-limit", "1")
	set := time.Now()
	if !within(liveWithin, func() bool { return gatewayStatus(t, stack, path) == http.StatusTooManyRequests }) {
		t.Fatalf("no 429 within %v of lowering the limit to 1/s", liveWithin)
	}
	t.Logf("429s started %v after kitctl config set returned", time.Since(set).Round(time.Millisecond))

	k.must(t, "config", "set", "gateway", "rate-limit", "5000")
	k.must(t, "config", "set", "gateway", "rate-burst", "5000")
	set = time.Now()
	ok := 0
	if !within(liveWithin, func() bool {
		if gatewayStatus(t, stack, path) == http.StatusOK {
			ok++
		} else {
			ok = 0
		}
		return ok >= 20
	}) {
		t.Fatalf("still 429s %v after raising the limit", liveWithin)
	}
	t.Logf("429s stopped %v after kitctl config set returned", time.Since(set).Round(time.Millisecond))
	var got struct{ Value string }
	k.json(t, &got, "config", "get", "gateway", "rate-limit")
	if got.Value != "5000" {
		t.Errorf("config get gateway rate-limit = %q, want 5000", got.Value)
	}
}

// testKitctlInvalid: kitctl refuses an invalid value; one written past it
// is ignored by the gateway, which counts it, and kitctl list flags it.
func testKitctlInvalid(t *testing.T, k *kitctl, stack *local.Stack) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "set", "gateway", "rate-limit", "-5"}, "kitctl: invalid: rate-limit: -5 is out of range"},
		{[]string{"config", "set", "gateway", "upstream-timeout", "forever"}, "kitctl: invalid: upstream-timeout: \"forever\" is not a duration"},
		{[]string{"config", "set", "product", "log-level", "verbose"}, "kitctl: invalid: log-level: \"verbose\" is not one of debug, info, warn, error"},
		{[]string{"config", "set", "gateway", "no-such-setting", "1"}, "kitctl: invalid: no-such-setting: unknown setting of gateway"},
		{[]string{"config", "set", "no-such-service", "log-level", "debug"}, "kitctl: not_found: no service \"no-such-service\" in Consul"},
	} {
		if out, code := k.run(t, tc.args...); code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("kitctl %s = exit %d %q, want refused with %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
	if _, code := k.run(t, "config", "get", "gateway", "upstream-timeout"); code == 0 {
		t.Error("an invalid upstream-timeout was stored")
	}

	cfg := api.DefaultConfig()
	cfg.Address = stack.ConsulAddr()
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KV().Put(&api.KVPair{Key: "kitshop/config/gateway/user-rate-burst", Value: []byte("lots")}, nil); err != nil {
		t.Fatal(err)
	}
	defer k.run(t, "config", "delete", "gateway", "user-rate-burst")
	if !within(5*liveWithin, func() bool {
		v, _ := metricstest.Scrape(t, stack.GatewayMetricsURL()).Value("kitshop_liveconfig_invalid_total", map[string]string{"key": "user-rate-burst"})
		return v >= 1
	}) {
		t.Error("the gateway did not count the invalid user-rate-burst")
	}
	if out := k.must(t, "config", "list", "gateway"); !strings.Contains(out, "INVALID") {
		t.Errorf("config list does not flag the invalid value:\n%s", out)
	}
	if got := gatewayStatus(t, stack, "/api/v1/products?limit=1"); got != http.StatusOK {
		t.Errorf("gateway after an invalid value: %d, want 200", got)
	}
}

// testKitctlTimeout sets the order service's catalog timeout so short that
// every order fails fast, then deletes it.
func testKitctlTimeout(t *testing.T, k *kitctl, stack *local.Stack) {
	c := newGatewayClient(t, stack.GatewayURL())
	sec := &secrets{}
	email, password := signUp(t, c, sec)
	token := login(t, c, sec, email, password).AccessToken
	var list struct {
		Products []struct{ ID string }
	}
	k.json(t, &list, "call", "product", "ListProducts", `{"limit": 1}`)
	if len(list.Products) == 0 {
		t.Fatal("no product")
	}
	body := mustJSON(t, map[string]any{"items": []line{{ProductID: list.Products[0].ID, Quantity: 1}}})
	place := func() int {
		r, err := c.send(http.MethodPost, "/api/v1/orders", orderHeader(token, ""), body)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if got := place(); got != http.StatusCreated {
		t.Fatalf("place an order before the change: %d, want 201", got)
	}
	k.must(t, "config", "set", "order", "product-timeout", "1us")
	if !within(liveWithin, func() bool { return place() == http.StatusServiceUnavailable }) {
		t.Fatalf("orders still placed %v after product-timeout 1us", liveWithin)
	}
	k.must(t, "config", "delete", "order", "product-timeout")
	if !within(liveWithin, func() bool { return place() == http.StatusCreated }) {
		t.Fatalf("orders still failing %v after product-timeout was deleted", liveWithin)
	}
}

// testKitctlLogLevel switches product to debug: its successful reads, which
// it logs at debug level, show in its log within a second.
func testKitctlLogLevel(t *testing.T, k *kitctl, stack *local.Stack) {
	var list struct {
		Products []struct{ ID string }
	}
	k.json(t, &list, "call", "product", "ListProducts", `{"limit": 1}`)
	path := "/api/v1/products/" + list.Products[0].ID
	debugLines := func() int {
		n := 0
		for _, in := range stack.Instances("product") {
			b, _ := os.ReadFile(in.Process.LogPath())
			n += strings.Count(string(b), "level=debug")
		}
		return n
	}
	// Read from every instance directly: through the gateway, its cache
	// may answer without asking the product service.
	read := func() {
		for _, in := range stack.Instances("product") {
			resp, err := http.Get("http://" + in.HTTPAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	read()
	before := debugLines()
	k.must(t, "config", "set", "product", "log-level", "debug")
	defer k.must(t, "config", "delete", "product", "log-level")
	if !within(liveWithin, func() bool {
		read()
		return debugLines() > before
	}) {
		t.Fatalf("no debug line in product's logs %v after log-level debug", liveWithin)
	}
	for _, in := range stack.Instances("product") {
		b, _ := os.ReadFile(in.Process.LogPath())
		if !strings.Contains(string(b), `msg="live setting changed" key=log-level old=info new=debug by=e2e-operator`) {
			t.Errorf("%s did not log the change with its author", in.ID)
		}
	}
}

// testKitctlReplay dead-letters a poison message (one without an event id,
// so it can be replayed at once) and replays it with kitctl: it is
// published again on its subject, consumed again, and dead-lettered again.
// A dead letter with an id the stream still remembers is refused.
func testKitctlReplay(t *testing.T, k *kitctl, stack *local.Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(stack.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	marker := "kitctl-" + randomHex(t, 6)
	msg := nats.NewMsg(orderv1.SubjectConfirmed)
	msg.Data = []byte("this is not an event " + marker)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	type dead struct {
		Seq      uint64
		Consumer string
		Subject  string
		EventID  string `json:"event_id"`
		Error    string
	}
	ours := func() []dead {
		var all []dead
		k.json(t, &all, "events", "dlq", "list", "--consumer", "payment")
		var out []dead
		for _, d := range all {
			var shown struct{ Message struct{ Data string } }
			k.json(t, &shown, "events", "dlq", "show", strconvU(d.Seq))
			if strings.Contains(shown.Message.Data, marker) {
				out = append(out, d)
			}
		}
		return out
	}
	var first []dead
	if !within(20*time.Second, func() bool { first = ours(); return len(first) == 1 }) {
		t.Fatalf("the poison message did not reach payment's dead letters: %+v", first)
	}
	if first[0].Subject != orderv1.SubjectConfirmed || first[0].Error == "" {
		t.Errorf("dead letter = %+v", first[0])
	}

	var replayed []struct {
		Stream    string
		StreamSeq uint64 `json:"stream_seq"`
		Subject   string
	}
	k.json(t, &replayed, "events", "dlq", "replay", strconvU(first[0].Seq))
	if len(replayed) != 1 || replayed[0].Stream != orderv1.Stream || replayed[0].Subject != orderv1.SubjectConfirmed {
		t.Fatalf("replay = %+v", replayed)
	}
	s, err := js.Stream(ctx, orderv1.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, replayed[0].StreamSeq)
	if err != nil || !strings.Contains(string(m.Data), marker) || m.Header.Get("Kitshop-Dead-Error") != "" {
		t.Fatalf("replayed message at %s seq %d: %v %+v", orderv1.Stream, replayed[0].StreamSeq, err, m)
	}
	// Consumed again, and still poison: a second dead letter.
	if !within(20*time.Second, func() bool { return len(ours()) == 2 }) {
		t.Errorf("the replayed message was not consumed again (dead letters: %+v)", ours())
	}

	// One with an event id, replayed while the stream remembers the id.
	msg = nats.NewMsg(orderv1.SubjectConfirmed)
	msg.Data = []byte("this is not an event either " + marker)
	msg.Header.Set(jetstream.MsgIDHeader, "kitctl-dup-"+marker)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	var withID []dead
	if !within(20*time.Second, func() bool { withID = ours(); return len(withID) == 3 }) {
		t.Fatalf("the second poison message was not dead-lettered: %+v", withID)
	}
	out, code := k.run(t, "events", "dlq", "replay", strconvU(withID[2].Seq))
	if code == 0 || !strings.Contains(out, "conflict") || !strings.Contains(out, "duplicate window") {
		t.Errorf("replay within the duplicate window = exit %d %q, want refused", code, out)
	}
}

func strconvU(n uint64) string { return strconv.FormatUint(n, 10) }
