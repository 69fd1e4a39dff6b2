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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/app/apptest"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/notification/internal/smtptest"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
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

// send makes one request, with a bearer token unless token is "", and
// returns the status and body.
func send(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
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

// publish publishes data as its producer would (kit/events, the event id
// as Nats-Msg-Id) and returns the event id.
func publish(t *testing.T, js jetstream.JetStream, subject string, data proto.Message) string {
	t.Helper()
	ev, err := events.New(context.Background(), "test", subject, "test/1", data)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(ev.Subject)
	msg.Data = ev.Payload
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The service creates the streams once it is up; retry until it has.
	for {
		_, err := js.PublishMsg(ctx, msg)
		if err == nil {
			return ev.ID.String()
		}
		if ctx.Err() != nil {
			t.Fatalf("publish on %s: %v", subject, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunServes runs the program on a real database and broker, without
// Consul, with the token keys of a test issuer and a test SMTP server, and
// checks what an operator relies on: events in become notifications for
// their user alone and one email each, every route needs a user's token,
// metrics on the internal listener only, and a clean shutdown.
func TestRunServes(t *testing.T) {
	signer := authtest.NewSigner(t)
	issuer := newIssuer(t, signer)
	broker := testenv.OwnNATS(t) // the streams have fixed names
	mail := smtptest.Start(t)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-jwks-url", issuer.URL+auth.JWKSPath, "-nats-url", broker.URL(),
		"-smtp-addr", mail.Addr(), "-smtp-from", "kitshop <shop@kitshop.example>")
	base := "http://" + inst.HTTPAddr

	_, js := testenv.JetStream(t, broker.URL())
	// The address comes with the registration, on the user stream; an
	// order event handled before it makes no email (the streams are not
	// ordered with each other), so the order comes once the welcome is out.
	ada := uuid.NewString()
	welcome := publish(t, js, userv1.SubjectRegistered, &userv1.UserRegistered{UserId: ada, Email: "ada@example.com", Name: "Ada"})
	mail.Wait(t, 1, 20*time.Second)
	paid := publish(t, js, orderv1.SubjectPaid, &orderv1.OrderPaid{Order: &orderv1.Order{
		Id: "1a2b3c4d-0000-4000-8000-000000000001", UserId: ada, TotalMinor: 2500, Currency: "EUR"}})

	// Both emails arrive, once each, with their events' Message-IDs.
	msgs := mail.Wait(t, 2, 20*time.Second)
	token := signer.Token(ada, auth.RoleCustomer)
	var list struct {
		Notifications []struct{ Kind, Title string } `json:"notifications"`
		UnreadCount   int                            `json:"unread_count"`
	}
	status, body := send(t, http.MethodGet, base+"/api/v1/notifications", token)
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s", status, body)
	}
	if len(list.Notifications) != 2 || list.UnreadCount != 2 || list.Notifications[0].Title != "Order 1a2b3c4d paid" ||
		list.Notifications[1].Kind != "welcome" {
		t.Errorf("ada's notifications: %s", body)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would come now
	if msgs = mail.Messages(); len(msgs) != 2 {
		t.Errorf("%d emails, want 2", len(msgs))
	}
	for _, id := range []string{welcome, paid} {
		found := 0
		for _, m := range msgs {
			if bytes.Contains(m.Data, []byte("Message-ID: <notification."+id+"@kitshop.example>")) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("event %s: %d emails", id, found)
		}
	}

	someone := signer.Token(uuid.NewString(), auth.RoleCustomer)
	service := signer.Token(auth.ServiceSubject("order"), auth.RoleService)
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, "/readyz", "", http.StatusOK},
		{http.MethodGet, "/api/v1/notifications", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/notifications", service, http.StatusForbidden},
		{http.MethodGet, "/api/v1/notifications?limit=0", someone, http.StatusBadRequest},
		{http.MethodPost, "/api/v1/notifications/read-all", someone, http.StatusOK},
		{http.MethodPost, "/api/v1/notifications/read-all", token, http.StatusOK},
		// The metrics are for Prometheus on the internal listener only.
		{http.MethodGet, "/metrics", "", http.StatusNotFound},
	} {
		if got, body := send(t, tt.method, base+tt.path, tt.token); got != tt.want {
			t.Errorf("%s %s = %d, want %d; %s", tt.method, tt.path, got, tt.want, body)
		}
	}

	got := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"kitshop_requests_total", map[string]string{"service": "notification", "method": "HandleEvent", "outcome": "success"}},
		{"kitshop_requests_total", map[string]string{"service": "notification", "method": "ListNotifications", "outcome": "unauthenticated"}},
		{"kitshop_requests_total", map[string]string{"service": "notification", "method": "ListNotifications", "outcome": "forbidden"}},
		{"kitshop_requests_total", map[string]string{"service": "notification", "method": "MarkAllRead", "outcome": "success"}},
		{"kitshop_subscriber_consumed_total", map[string]string{"stream": userv1.Stream, "outcome": "ok"}},
		{"kitshop_subscriber_consumed_total", map[string]string{"stream": orderv1.Stream, "outcome": "ok"}},
		{"kitshop_notification_emails_total", map[string]string{"outcome": "sent"}},
	} {
		if v, _ := got.Value(c.name, c.labels); v < 1 {
			t.Errorf("%s%v = %v, want at least 1", c.name, c.labels, v)
		}
	}
	if err := inst.Stop(); err != nil {
		t.Errorf("shutdown: %v\nlogs:\n%s", err, inst.Logs)
	}
}

// TestRunWithoutSMTP: without -smtp-addr the service makes in-app
// notifications only, and starts even while the broker is down.
func TestRunWithoutSMTP(t *testing.T) {
	signer := authtest.NewSigner(t)
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-jwks-url", newIssuer(t, signer).URL+auth.JWKSPath, "-nats-url", "nats://127.0.0.1:1")
	status, body := send(t, http.MethodGet, inst.URL("/api/v1/notifications"), signer.Token(uuid.NewString(), auth.RoleCustomer))
	if status != http.StatusOK || !strings.Contains(string(body), `"notifications":[]`) {
		t.Errorf("list = %d %s", status, body)
	}
}

func TestParseOptions(t *testing.T) {
	db := []string{"-database-url", "postgres://x"}
	smtp := slices.Concat(db, []string{"-smtp-addr", "mail.example.com:587"})
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
	}{
		{name: "minimal", args: db},
		{name: "from environment", env: map[string]string{"NOTIFICATION_DATABASE_URL": "postgres://x", "NOTIFICATION_CONSUL_ADDR": "", "NOTIFICATION_JWKS_URL": "http://keys/jwks.json", "NOTIFICATION_NATS_URL": "nats://broker:4222"}},
		{name: "smtp", args: slices.Concat(smtp, []string{"-smtp-from", "kitshop <shop@example.com>"})},
		{name: "smtp with auth", args: slices.Concat(smtp, []string{"-smtp-from", "shop@example.com", "-smtp-username", "shop"}),
			env: map[string]string{"NOTIFICATION_SMTP_PASSWORD": "s3cret-pw"}},
		{name: "smtp without sender", args: smtp, wantErr: "-smtp-from is required"},
		{name: "bad sender", args: slices.Concat(smtp, []string{"-smtp-from", "shop"}), wantErr: "sender"},
		{name: "bad smtp address", args: slices.Concat(db, []string{"-smtp-addr", "mail.example.com", "-smtp-from", "shop@example.com"}), wantErr: "host:port"},
		{name: "user without password", args: slices.Concat(smtp, []string{"-smtp-from", "shop@example.com", "-smtp-username", "shop"}), wantErr: "go together"},
		{name: "sender without server", args: slices.Concat(db, []string{"-smtp-from", "shop@example.com"}), wantErr: "need -smtp-addr"},
		{name: "bad poll interval", args: slices.Concat(db, []string{"-email-poll-interval", "0s"}), wantErr: "-email-poll-interval"},
		{name: "no broker", args: slices.Concat(db, []string{"-nats-url", ""}), wantErr: "-nats-url"},
		{name: "no consul and no key url", args: slices.Concat(db, []string{"-consul-addr", ""}), wantErr: "-jwks-url is required"},
		{name: "missing database url", args: nil, wantErr: "NOTIFICATION_DATABASE_URL"},
		{name: "extra argument", args: slices.Concat(db, []string{"extra"}), wantErr: "unexpected arguments"},
		{name: "published database password", args: []string{"-database-url", "postgres://kitshop:kitshop@db/notification"}, wantErr: "database-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFICATION_DATABASE_URL", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var f flags
			o, err := app.Parse(spec(&f), tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if o.DatabaseURL != "postgres://x" || o.NATSURL == "" || !strings.HasPrefix(o.InstanceID, "notification-") {
					t.Errorf("options %+v", o)
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
	_, err := app.Parse(spec(&f), []string{"-h"}, &usage)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("error %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"-database-url", "-nats-url", "-smtp-addr", "-smtp-password"} {
		if !strings.Contains(usage.String(), name) {
			t.Errorf("usage lacks %s:\n%s", name, usage.String())
		}
	}
}
