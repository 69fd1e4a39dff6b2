package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// start runs the program with args (plus apptest's defaults) until the test
// ends or Stop is called, and waits until it is ready.
func start(t *testing.T, args ...string) *apptest.Service {
	t.Helper()
	// Tokens come from authtest signers, with their own issuer and audience.
	return apptest.Start(t, build, append([]string{"-issuer", authtest.Issuer, "-audience", authtest.Audience}, args...)...)
}

// newIssuer serves signer's public keys the way the user service does, at
// /.well-known/jwks.json, and returns the server.
func newIssuer(t *testing.T, signer *authtest.Signer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != auth.JWKSPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(signer.JWKS())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// get makes one GET request, with a bearer token unless token is "", and
// returns the status and the body.
func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestRunHandlesOrderEvents runs the program on a real database and a real
// broker, without Consul, with the token keys of a test issuer, and checks
// what an operator relies on: an order.confirmed becomes a charge and one
// payment.succeeded, the owner (over HTTP and gRPC) and admins read the
// payment, others do not, the provider's metrics, and a clean shutdown.
func TestRunHandlesOrderEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	broker := testenv.OwnNATS(t) // the streams have fixed names
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-jwks-url", issuer.URL+auth.JWKSPath, "-nats-url", broker.URL(), "-slow-card-delay", "50ms")

	// The order service's side: its stream, and one confirmed order.
	_, js := testenv.JetStream(t, broker.URL())
	if err := events.EnsureStream(ctx, js, events.StreamConfig{Name: orderv1.Stream, Subjects: []string{orderv1.StreamSubjects}}); err != nil {
		t.Fatal(err)
	}
	userID, orderID := uuid.NewString(), uuid.NewString()
	ev, err := events.New(ctx, "order", orderv1.SubjectConfirmed, "order/"+orderID, &orderv1.OrderConfirmed{Order: &orderv1.Order{
		Id: orderID, UserId: userID, TotalMinor: 1250, Currency: "EUR", PaymentMethod: "pm_card_slow",
	}})
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(ev.Subject)
	msg.Data = ev.Payload
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID.String())
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}

	// The payment's event, published by the outbox relay.
	var stream jetstream.Stream
	for {
		if stream, err = js.Stream(ctx, paymentv1.Stream); err == nil {
			if info, err := stream.Info(ctx); err == nil && info.State.Msgs > 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no payment event; logs:\n%s", inst.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	raw, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Unmarshal(raw.Data)
	if err != nil {
		t.Fatal(err)
	}
	paid, ok := got.Data.(*paymentv1.PaymentSucceeded)
	if !ok || raw.Subject != paymentv1.SubjectSucceeded || got.Source != "payment" || paid.GetOrderId() != orderID || paid.GetAmountMinor() != 1250 {
		t.Fatalf("payment event on %s: %+v", raw.Subject, got)
	}

	base := "http://" + inst.HTTPAddr + "/api/v1/payments?order_id=" + orderID
	owner := signer.Token(userID, auth.RoleCustomer)
	for _, tt := range []struct {
		name, url, token string
		want             int
	}{
		{"owner", base, owner, http.StatusOK},
		{"admin", base, signer.Token(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin), http.StatusOK},
		{"stranger", base, signer.Token(uuid.NewString(), auth.RoleCustomer), http.StatusNotFound},
		{"anonymous", base, "", http.StatusUnauthorized},
		{"bad order id", "http://" + inst.HTTPAddr + "/api/v1/payments?order_id=42", owner, http.StatusBadRequest},
		{"readiness", "http://" + inst.HTTPAddr + "/readyz", "", http.StatusOK},
		// The metrics are for Prometheus on the internal listener only.
		{"metrics", "http://" + inst.HTTPAddr + "/metrics", "", http.StatusNotFound},
	} {
		status, body := get(t, tt.url, tt.token)
		if status != tt.want {
			t.Errorf("%s: status %d, want %d; body %s", tt.name, status, tt.want, body)
		}
		if tt.name == "owner" && !strings.Contains(string(body), `"status":"succeeded"`) {
			t.Errorf("owner reads %s", body)
		}
	}

	cc, err := grpcx.Dial(inst.GRPCAddr, grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	list, err := paymentv1.NewPaymentServiceClient(cc).ListPayments(auth.NewTokenContext(ctx, owner), &paymentv1.ListPaymentsRequest{OrderId: orderID})
	if err != nil || len(list.GetPayments()) != 1 || list.GetPayments()[0].GetId() != paid.GetPaymentId() {
		t.Errorf("ListPayments over gRPC = %v, %v", list, err)
	}

	scraped := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for _, tt := range []struct {
		name   string
		labels map[string]string
	}{
		{"kitshop_payment_provider_calls_total", map[string]string{"operation": "charge", "outcome": "succeeded"}},
		{"kitshop_requests_total", map[string]string{"service": "payment", "method": "OrderConfirmed", "outcome": "success"}},
		{"kitshop_subscriber_consumed_total", map[string]string{"stream": orderv1.Stream, "outcome": "ok"}},
		{"kitshop_requests_total", map[string]string{"service": "payment", "method": "ListPayments", "outcome": "unauthenticated"}},
	} {
		if v, _ := scraped.Value(tt.name, tt.labels); v != 1 {
			t.Errorf("%s%v = %v, want 1", tt.name, tt.labels, v)
		}
	}
	if n, _ := scraped.Count("kitshop_payment_provider_duration_seconds", map[string]string{"operation": "charge"}); n != 1 {
		t.Errorf("kitshop_payment_provider_duration_seconds count = %d, want 1", n)
	}

	if err := inst.Stop(); err != nil {
		t.Fatalf("shutdown: %v\nlogs:\n%s", err, inst.Logs)
	}
	logs := inst.Logs.String()
	for _, want := range []string{`"msg":"payment event handled"`, `"effect":"charged"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(logs, owner) {
		t.Error("logs contain a token")
	}
}

// TestParseOptions checks the service's own flags and those Spec.Events
// adds.
func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{name: "minimal", args: []string{"-database-url", "postgres://x"}},
		{name: "from environment", env: map[string]string{"PAYMENT_DATABASE_URL": "postgres://x", "PAYMENT_NATS_URL": "nats://broker:4222", "PAYMENT_SLOW_CARD_DELAY": "1s"}},
		{name: "slow card delay", args: []string{"-database-url", "postgres://x", "-slow-card-delay", "250ms"}},
		{name: "zero slow card delay", args: []string{"-database-url", "postgres://x", "-slow-card-delay", "0s"}, wantErr: "-slow-card-delay"},
		{name: "slow card delay beyond the handler timeout", args: []string{"-database-url", "postgres://x", "-slow-card-delay", "20s"}, wantErr: "-slow-card-delay"},
		{name: "no nats url", args: []string{"-database-url", "postgres://x", "-nats-url", ""}, wantErr: "nats"},
		{name: "no consul and no key url", args: []string{"-database-url", "postgres://x", "-consul-addr", ""}, wantErr: "-jwks-url is required"},
		{name: "missing database url", args: nil, wantErr: "PAYMENT_DATABASE_URL"},
		{name: "extra argument", args: []string{"-database-url", "postgres://x", "extra"}, wantErr: "unexpected arguments"},
		{name: "published database password", args: []string{"-database-url", "postgres://kitshop:kitshop@db/payment"}, wantErr: "database-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PAYMENT_DATABASE_URL", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var f flags
			o, err := app.Parse(spec(&f), tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if o.DatabaseURL != "postgres://x" || !strings.HasPrefix(o.InstanceID, "payment-") || o.NATSURL == "" || f.slowCardDelay <= 0 {
					t.Errorf("options %+v, slow card delay %v", o, f.slowCardDelay)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOptionsHelp(t *testing.T) {
	var usage bytes.Buffer
	var f flags
	if _, err := app.Parse(spec(&f), []string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-database-url", "-nats-url", "-slow-card-delay"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %s", want)
		}
	}
}
