package local_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/kit/subscriber"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// Limits of the event tests.
const (
	// paidTimeout bounds the wait for every order of a burst to become paid
	// once the broker and the consumers are back.
	paidTimeout = 90 * time.Second
	// burst is how many orders a fault test places.
	burst = 200
)

// TestEvents runs the asynchronous half of the system for real — two order
// instances whose outbox relays publish to NATS JetStream, the payment
// service charging confirmed orders and the notification service writing
// a notification per event — and breaks it: the broker SIGKILLed while
// orders are placed, the consumers SIGKILLed mid-stream, a poison message,
// a declined payment. After each, every database is compared with the
// others: one payment per order, one notification per event, every order
// paid or cancelled with its stock back, every event published once.
func TestEvents(t *testing.T) {
	cfg := e2eConfig(t)
	cfg.Services = withInstance(t, cfg.Services, "order", "order-2")
	cfg.BinDir = buildBinaries(t, cfg.Services)
	stack := startStack(t, cfg)
	c := newGatewayClient(t, stack.GatewayURL())
	sec := &secrets{}
	sec.add(cfg.AdminPassword, cfg.ServiceSecret)
	admin := login(t, c, sec, cfg.AdminEmail, cfg.AdminPassword).AccessToken
	e := newOrderEnv(t, stack, c, sec, admin, 1)
	cust := e.customers[0]
	p := e.product(t, "Event mug", 450, "EUR", 100_000)

	t.Run("declined payment releases the stock", func(t *testing.T) { testDeclined(t, e, cust) })
	t.Run("broker killed while orders are placed", func(t *testing.T) { testBrokerDown(t, e, cust, p) })
	t.Run("consumers killed mid-stream", func(t *testing.T) { testConsumersKilled(t, e, cust, p) })
	t.Run("poison message is dead-lettered", func(t *testing.T) { testPoison(t, e) })
	t.Run("two relays publish every event once", func(t *testing.T) { testEveryEventOnce(t, e) })
}

// withInstance returns services with one more instance of the named service.
func withInstance(t *testing.T, services []local.ServiceSpec, name, id string) []local.ServiceSpec {
	t.Helper()
	out := slices.Clone(services)
	i := slices.IndexFunc(out, func(s local.ServiceSpec) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("no service %q in the stack", name)
	}
	out[i].Instances = append(slices.Clone(out[i].Instances), local.InstanceSpec{ID: id})
	return out
}

// placeOrder places an order for one unit of p and returns it; status
// must be 201, confirmed.
func placeOrder(t *testing.T, e *orderEnv, cust customer, p product, method string) placedOrder {
	t.Helper()
	body := mustJSON(t, map[string]any{"items": []line{{ProductID: p.ID, Quantity: 1}}, "payment_method": method})
	var o placedOrder
	decodeJSON(t, "place an order with "+method, e.post(t, cust.token, "", body), http.StatusCreated, &o)
	if o.Status != "confirmed" {
		t.Fatalf("order %s is %s, want confirmed", o.ID, o.Status)
	}
	return o
}

// placeBurst places n orders from 8 clients, calling during(i) before the
// i-th, and returns their ids; every one must be confirmed.
func placeBurst(t *testing.T, e *orderEnv, cust customer, p product, n int, during func(i int)) []string {
	t.Helper()
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				body := mustJSON(t, map[string]any{"items": []line{{ProductID: p.ID, Quantity: 1}}})
				r, err := e.c.send(http.MethodPost, "/api/v1/orders", orderHeader(cust.token, ""), body)
				var o placedOrder
				if err == nil && r.Status == http.StatusCreated {
					err = json.Unmarshal(r.Body, &o)
				}
				switch {
				case err != nil:
					t.Errorf("place an order: %v", err)
				case r.Status != http.StatusCreated || o.Status != "confirmed":
					t.Errorf("place an order: %d %s", r.Status, truncate(r.Body))
				default:
					mu.Lock()
					ids = append(ids, o.ID)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		if during != nil {
			during(i)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return ids
}

// awaitStatus waits until every order in ids has status, and returns how
// long that took.
func awaitStatus(t *testing.T, e *orderEnv, ids []string, status string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var n int
		queryDB(t, e.stack, "order", func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE id = ANY($1::uuid[]) AND status = $2`, ids, status).Scan(&n)
		})
		if n == len(ids) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%d of %d orders %s after %s", n, len(ids), status, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkEffectsOnce checks the payment and notification databases for the
// orders in ids, all paid: one succeeded payment and one order_paid
// notification each, and no event made two notifications.
func checkEffectsOnce(t *testing.T, e *orderEnv, ids []string) {
	t.Helper()
	payments := map[string]int{}
	queryDB(t, e.stack, "payment", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT order_id::text, status FROM payments WHERE order_id = ANY($1::uuid[])`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, status string
			if err := rows.Scan(&id, &status); err != nil {
				return err
			}
			if status != "succeeded" {
				t.Errorf("payment of order %s is %s, want succeeded", id, status)
			}
			payments[id]++
		}
		return rows.Err()
	})
	paidNotes := map[string]int{}
	queryDB(t, e.stack, "notification", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT order_id::text, count(*) FROM notifications
			WHERE order_id = ANY($1::uuid[]) AND kind = 'order_paid' GROUP BY order_id`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			paidNotes[id] = n
		}
		return rows.Err()
	})
	for _, id := range ids {
		if payments[id] != 1 {
			t.Errorf("order %s has %d payments, want 1", id, payments[id])
		}
	}
	// The notification consumer may trail the order's status by a moment.
	deadline := time.Now().Add(30 * time.Second)
	for missing := notePending(ids, paidNotes); missing > 0 && time.Now().Before(deadline); missing = notePending(ids, paidNotes) {
		time.Sleep(300 * time.Millisecond)
		queryDB(t, e.stack, "notification", func(ctx context.Context, conn *pgx.Conn) error {
			rows, err := conn.Query(ctx, `SELECT order_id::text, count(*) FROM notifications
				WHERE order_id = ANY($1::uuid[]) AND kind = 'order_paid' GROUP BY order_id`, ids)
			if err != nil {
				return err
			}
			clear(paidNotes)
			for rows.Next() {
				var id string
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					return err
				}
				paidNotes[id] = n
			}
			return rows.Err()
		})
	}
	for _, id := range ids {
		if paidNotes[id] != 1 {
			t.Errorf("order %s has %d \"paid\" notifications, want 1", id, paidNotes[id])
		}
	}
}

func notePending(ids []string, notes map[string]int) int {
	n := 0
	for _, id := range ids {
		if notes[id] == 0 {
			n++
		}
	}
	return n
}

// testDeclined: a declined card cancels the order (payment_declined) and
// gives the stock back; the payment is failed and the customer is told.
func testDeclined(t *testing.T, e *orderEnv, cust customer) {
	p := e.product(t, "Declined mug", 300, "EUR", 10)
	o := placeOrder(t, e, cust, p, "pm_card_chargeDeclined")
	awaitStatus(t, e, []string{o.ID}, "cancelled", 30*time.Second)
	var got struct {
		placedOrder
		CancelReason string `json:"cancel_reason"`
	}
	decodeJSON(t, "the declined order", e.c.do(t, http.MethodGet, "/api/v1/orders/"+o.ID, bearer(cust.token), nil), http.StatusOK, &got)
	if got.Status != "cancelled" || got.CancelReason != "payment_declined" {
		t.Errorf("declined order: %s, reason %q; want cancelled, payment_declined", got.Status, got.CancelReason)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.stock(t, p.ID) != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("stock of %s is %d 10 s after the decline, want 10", p.ID, e.stock(t, p.ID))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var pays struct {
		Payments []struct {
			Status      string `json:"status"`
			DeclineCode string `json:"decline_code"`
		} `json:"payments"`
	}
	decodeJSON(t, "its payment", e.c.do(t, http.MethodGet, "/api/v1/payments?order_id="+o.ID, bearer(cust.token), nil), http.StatusOK, &pays)
	if len(pays.Payments) != 1 || pays.Payments[0].Status != "failed" || pays.Payments[0].DeclineCode == "" {
		t.Errorf("payments of the declined order: %+v, want one failed with a decline code", pays.Payments)
	}
	awaitNotification(t, e, o.ID, "order_payment_failed")
}

// awaitNotification waits for a notification of kind about an order.
func awaitNotification(t *testing.T, e *orderEnv, orderID, kind string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		queryDB(t, e.stack, "notification", func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE order_id = $1 AND kind = $2`, orderID, kind).Scan(&n)
		})
		switch {
		case n == 1:
			return
		case n > 1:
			t.Fatalf("%d %s notifications for order %s, want 1", n, kind, orderID)
		case time.Now().After(deadline):
			t.Fatalf("no %s notification for order %s after 30 s", kind, orderID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testBrokerDown: NATS is SIGKILLed and stays down while orders are
// placed. The synchronous half carries on — every order is confirmed —
// and the outbox keeps the events; once NATS is back every order becomes
// paid, with one payment and one "paid" notification each.
func testBrokerDown(t *testing.T, e *orderEnv, cust customer, p product) {
	broker := e.stack.NATS()
	if err := broker.Process().Kill(); err != nil {
		t.Fatalf("SIGKILL nats: %v", err)
	}
	ids := placeBurst(t, e, cust, p, burst, nil)
	if len(ids) != burst {
		t.Fatalf("%d of %d orders placed with the broker down", len(ids), burst)
	}
	var backlog int
	queryDB(t, e.stack, "order", func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&backlog)
	})
	if backlog < burst {
		t.Errorf("outbox backlog with the broker down = %d, want at least %d", backlog, burst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := broker.Restart(ctx); err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	took := awaitStatus(t, e, ids, "paid", paidTimeout)
	t.Logf("%d orders placed with the broker down, all paid %s after its restart (backlog was %d events)", burst, took.Round(time.Millisecond), backlog)
	checkEffectsOnce(t, e, ids)
}

// testConsumersKilled: a payment and the notification instance are
// SIGKILLed while orders stream in, then started again; every event's
// effect happens once.
func testConsumersKilled(t *testing.T, e *orderEnv, cust customer, p product) {
	victims := []string{firstInstance(t, e.stack, "payment"), firstInstance(t, e.stack, "notification")}
	ids := placeBurst(t, e, cust, p, burst, func(i int) {
		if i != burst/4 {
			return
		}
		for _, id := range victims {
			inst := instanceByID(t, e.stack, id)
			if err := inst.Process.Kill(); err != nil {
				t.Errorf("SIGKILL %s: %v", id, err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range victims {
		if _, err := e.stack.Restart(ctx, id); err != nil {
			t.Fatalf("restart %s: %v", id, err)
		}
	}
	took := awaitStatus(t, e, ids, "paid", paidTimeout)
	t.Logf("%d orders with %v killed mid-stream: all paid within %s of their restart", burst, victims, took.Round(time.Millisecond))
	checkEffectsOnce(t, e, ids)
}

func firstInstance(t *testing.T, stack *local.Stack, service string) string {
	t.Helper()
	insts := stack.Instances(service)
	if len(insts) == 0 {
		t.Fatalf("no %s instance in the stack", service)
	}
	return insts[0].ID
}

func instanceByID(t *testing.T, stack *local.Stack, id string) *local.Instance {
	t.Helper()
	svc, _, _ := strings.Cut(id, "-")
	for _, inst := range stack.Instances(svc) {
		if inst.ID == id {
			return inst
		}
	}
	t.Fatalf("no instance %s", id)
	return nil
}

// testPoison: a message that is no event, on a subject the payment service
// consumes, goes to the dead-letter stream with its error, and the payment
// service's metrics count it.
func testPoison(t *testing.T, e *orderEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(e.stack.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	id := "poison-" + randomHex(t, 8)
	msg := nats.NewMsg(orderv1.SubjectConfirmed)
	msg.Data = []byte("this is not an event")
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("publish the poison: %v", err)
	}
	stream, err := js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		t.Fatalf("the dead-letter stream: %v", err)
	}
	// Both consumers of the subject give up on it, and both dead letters
	// are kept: one per consumer.
	for _, consumer := range []string{"payment", "notification"} {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			m, err := stream.GetLastMsgForSubject(ctx, events.DeadLetterSubject(consumer))
			if err == nil && m.Header.Get(subscriber.MsgIDHeader) == id {
				if m.Header.Get(subscriber.ErrorHeader) == "" || m.Header.Get(subscriber.SubjectHeader) != orderv1.SubjectConfirmed {
					t.Errorf("%s dead letter headers = %v", consumer, m.Header)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the poison message did not reach %s's dead letters (last: %v, %v)", consumer, m, err)
			}
		}
	}
	// Every payment instance shares the consumer; one of them counted it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var total float64
		for _, inst := range e.stack.Instances("payment") {
			v, _ := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics").Value("kitshop_subscriber_dead_letters_total", nil)
			total += v
		}
		if total >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kitshop_subscriber_dead_letters_total = %v on the payment instances, want >= 1", total)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testEveryEventOnce runs last: with two order instances (two relays on one
// outbox) every order event was published, and JetStream holds exactly as
// many order events as the outbox: none lost, none doubled.
func testEveryEventOnce(t *testing.T, e *orderEnv) {
	if n := len(e.stack.Instances("order")); n < 2 {
		t.Fatalf("%d order instances, want 2", n)
	}
	var rows, unpublished int
	deadline := time.Now().Add(30 * time.Second)
	for {
		queryDB(t, e.stack, "order", func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM outbox`).Scan(&rows, &unpublished)
		})
		if unpublished == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d order events unpublished after 30 s", unpublished, rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(e.stack.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, orderv1.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The poison message of testPoison is in the stream too.
	if got, want := info.State.Msgs, uint64(rows)+1; got != want {
		t.Errorf("order stream holds %d messages, want %d (%d outbox events and the poison)", got, want, rows)
	}
	var dupPayments, dupNotes int
	queryDB(t, e.stack, "payment", func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT order_id FROM payments GROUP BY order_id HAVING count(*) > 1) d`).Scan(&dupPayments)
	})
	queryDB(t, e.stack, "notification", func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT order_id, kind FROM notifications WHERE order_id IS NOT NULL
			GROUP BY order_id, kind HAVING count(*) > 1) d`).Scan(&dupNotes)
	})
	if dupPayments+dupNotes > 0 {
		t.Errorf("%d orders with two payments, %d (order, kind) pairs with two notifications", dupPayments, dupNotes)
	}
	t.Logf("%d order events, all published once", rows)
}
