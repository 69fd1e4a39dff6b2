package notification_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/notification/internal/smtptest"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

const shopFrom = "kitshop <shop@kitshop.example>"

// startSender starts a sender of store's queue to srv, stopped when the
// test ends.
func startSender(t *testing.T, store notification.EmailQueue, srv *smtptest.Server, o notification.SenderOptions) *notification.Sender {
	t.Helper()
	m, err := notification.NewSMTPMailer(notification.SMTPConfig{Addr: srv.Addr(), From: shopFrom})
	if err != nil {
		t.Fatal(err)
	}
	s, err := notification.StartSender(store, m, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// register makes userID a known recipient through its registered event,
// which queues its welcome email when h emails.
func register(t *testing.T, h *notification.EventHandler, userID, email string) string {
	t.Helper()
	m := message(userv1.SubjectRegistered, &userv1.UserRegistered{UserId: userID, Email: email, Name: "Ada"})
	if err := h.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// emailStates returns (sent, failed, attempts) of the email of each event
// id.
type emailState struct {
	sent, failed bool
	attempts     int
	lastError    string
}

func emailStates(t *testing.T, pool *pgxpool.Pool) map[string]emailState {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT n.event_id::text, e.sent_at IS NOT NULL, e.failed_at IS NOT NULL, e.attempts, COALESCE(e.last_error, '')
		FROM emails e JOIN notifications n ON n.id = e.notification_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]emailState{}
	for rows.Next() {
		var id string
		var s emailState
		if err := rows.Scan(&id, &s.sent, &s.failed, &s.attempts, &s.lastError); err != nil {
			t.Fatal(err)
		}
		out[id] = s
	}
	return out
}

// waitEmails waits until every queued email is settled (sent or given up).
func waitEmails(t *testing.T, pool *pgxpool.Pool) map[string]emailState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		states := emailStates(t, pool)
		settled := true
		for _, s := range states {
			settled = settled && (s.sent || s.failed)
		}
		if settled {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatalf("emails not settled: %+v", states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEmailsAreSentOnce runs two senders on one queue, as two instances
// would: every email arrives once, with the Message-ID of its event.
func TestEmailsAreSentOnce(t *testing.T) {
	store, pool := newStore(t)
	srv := smtptest.Start(t)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := startSender(t, store, srv, notification.SenderOptions{Poll: 10 * time.Millisecond, Registerer: regA})
	b := startSender(t, store, srv, notification.SenderOptions{Poll: 10 * time.Millisecond, Registerer: regB})
	h := newHandler(t, store, notification.WithEmails(func() { a.Wake(); b.Wake() }))
	userID := uuid.NewString()
	ids := append([]string{register(t, h, userID, "ada@example.com")}, seed(t, h, userID, 9)...)

	states := waitEmails(t, pool)
	time.Sleep(100 * time.Millisecond) // a second send would come now
	msgs := srv.Messages()
	if len(msgs) != len(ids) {
		t.Fatalf("%d messages received for %d emails", len(msgs), len(ids))
	}
	var got []string
	for _, m := range msgs {
		mm, _ := parseMail(t, m.Data)
		got = append(got, mm.Header.Get("Message-ID"))
		if m.To[0] != "ada@example.com" || mm.Header.Get("To") != `"Ada" <ada@example.com>` {
			t.Errorf("sent to %v, To %q", m.To, mm.Header.Get("To"))
		}
	}
	var want []string
	for _, id := range ids {
		want = append(want, "<notification."+id+"@kitshop.example>")
		if s := states[id]; !s.sent || s.attempts != 1 {
			t.Errorf("email of %s: %+v, want sent on the first attempt", id, s)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Message-IDs = %v\nwant %v", got, want)
	}
	if sent := sentCount(t, regA) + sentCount(t, regB); sent != float64(len(ids)) {
		t.Errorf("kitshop_notification_emails_total{outcome=sent} = %v over both senders, want %d", sent, len(ids))
	}
}

// sentCount returns kitshop_notification_emails_total{outcome="sent"} in
// reg.
func sentCount(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "kitshop_notification_emails_total" && m.GetLabel()[0].GetValue() == "sent" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestSenderIsWokenAfterCommit: with polling all but off, an email queued
// goes out at once, because the handler wakes the sender.
func TestSenderIsWokenAfterCommit(t *testing.T) {
	store, _ := newStore(t)
	srv := smtptest.Start(t)
	s := startSender(t, store, srv, notification.SenderOptions{Poll: time.Hour})
	time.Sleep(50 * time.Millisecond) // the sender's first look finds nothing
	h := newHandler(t, store, notification.WithEmails(s.Wake))
	register(t, h, uuid.NewString(), "ada@example.com")
	srv.Wait(t, 1, 5*time.Second)
}

func TestSenderRetriesAndGivesUp(t *testing.T) {
	store, pool := newStore(t)
	srv := smtptest.Start(t)
	h := newHandler(t, store, notification.WithEmails(nil))
	ada, bob, cy := uuid.NewString(), uuid.NewString(), uuid.NewString()
	// ada's: refused for now, then accepted; bob's: refused for good; cy's:
	// refused for now every time, until the attempts run out.
	srv.Refuse("451 4.3.0 try again later")
	adaEvent := register(t, h, ada, "ada@example.com")
	startAndWait := func() map[string]emailState {
		s := startSender(t, store, srv, notification.SenderOptions{
			Poll: 10 * time.Millisecond, MaxAttempts: 3, Backoff: func(int) time.Duration { return 10 * time.Millisecond },
		})
		defer s.Stop()
		return waitEmails(t, pool)
	}
	if got := startAndWait()[adaEvent]; !got.sent || got.attempts != 2 {
		t.Errorf("ada's email: %+v, want sent on the second attempt", got)
	}

	srv.Refuse("550 5.1.1 no such user")
	bobEvent := register(t, h, bob, "bob@example.com")
	if got := startAndWait()[bobEvent]; got.sent || !got.failed || got.attempts != 1 || got.lastError == "" {
		t.Errorf("bob's email: %+v, want given up after one attempt", got)
	}

	srv.Refuse("421 4.3.2 shutting down", "421 4.3.2 shutting down", "421 4.3.2 shutting down", "421 4.3.2 shutting down")
	cyEvent := register(t, h, cy, "cy@example.com")
	if got := startAndWait()[cyEvent]; got.sent || !got.failed || got.attempts != 3 {
		t.Errorf("cy's email: %+v, want given up after 3 attempts", got)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages received, want ada's alone", n)
	}
}

// TestClaimKeepsAnEmailFromOtherSenders: a claimed email is not due for
// anyone until its lease runs out, so a sender that died mid-send leaves
// it to another, later.
func TestClaimKeepsAnEmailFromOtherSenders(t *testing.T) {
	store, _ := newStore(t)
	h := newHandler(t, store, notification.WithEmails(nil))
	register(t, h, uuid.NewString(), "ada@example.com")
	ctx := context.Background()
	q, ok, err := store.ClaimEmail(ctx, 300*time.Millisecond)
	if err != nil || !ok || q.To.Address != "ada@example.com" || q.To.Name != "Ada" || q.Attempts != 1 || q.Subject != "Welcome to kitshop, Ada" {
		t.Fatalf("ClaimEmail = %+v, %v, %v", q, ok, err)
	}
	if _, ok, err := store.ClaimEmail(ctx, time.Minute); ok || err != nil {
		t.Fatalf("a claimed email was claimed again: %v, %v", ok, err)
	}
	time.Sleep(400 * time.Millisecond)
	q2, ok, err := store.ClaimEmail(ctx, time.Minute)
	if err != nil || !ok || q2.NotificationID != q.NotificationID || q2.Attempts != 2 {
		t.Fatalf("after the lease: %+v, %v, %v", q2, ok, err)
	}
	if err := store.EmailSent(ctx, q2.NotificationID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok, err := store.ClaimEmail(ctx, time.Minute); ok || err != nil {
		t.Fatalf("a sent email was claimed: %v, %v", ok, err)
	}
}

// blockingMailer sends nothing: it holds every email until its context
// ends, as a hung SMTP server would.
type blockingMailer struct{ called chan struct{} }

func (m blockingMailer) Send(ctx context.Context, _ notification.Email) error {
	m.called <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// TestStopReleasesTheEmailInHand: an email cut off by Stop is due again at
// once, not after its claim runs out.
func TestStopReleasesTheEmailInHand(t *testing.T) {
	store, _ := newStore(t)
	h := newHandler(t, store, notification.WithEmails(nil))
	register(t, h, uuid.NewString(), "ada@example.com")
	m := blockingMailer{called: make(chan struct{}, 1)}
	s, err := notification.StartSender(store, m, notification.SenderOptions{Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.called:
	case <-time.After(10 * time.Second):
		t.Fatal("the email was never sent")
	}
	s.Stop()
	q, ok, err := store.ClaimEmail(context.Background(), time.Minute)
	if err != nil || !ok || q.Attempts != 2 {
		t.Errorf("after Stop: ClaimEmail = %+v, %v, %v; want the email due again", q, ok, err)
	}
}
