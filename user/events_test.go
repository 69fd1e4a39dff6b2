package user_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/outbox/outboxtest"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
	"github.com/kitshop/kitshop/user"
)

// outboxReader reads the user.registered events of a database's outbox, each
// once, in the order they were added.
type outboxReader struct{ outboxtest.Reader }

func newOutboxReader(pool *pgxpool.Pool) *outboxReader {
	return &outboxReader{outboxtest.Reader{Pool: pool}}
}

// next returns the events added since the last call, after checking what
// every event must carry: the envelope's source, type and subject, and the
// outbox row's aggregate and subject.
func (r *outboxReader) next(t *testing.T) []*userv1.UserRegistered {
	t.Helper()
	var out []*userv1.UserRegistered
	for _, e := range r.Next(t) {
		ur, ok := e.Data.(*userv1.UserRegistered)
		if !ok {
			t.Fatalf("outbox event data is %T, want *userv1.UserRegistered", e.Data)
		}
		wantAgg := "user/" + ur.GetUserId()
		if e.Source != user.Source || e.Type != userv1.SubjectRegistered || e.Message.Subject != wantAgg ||
			e.Aggregate != wantAgg || e.Subject != userv1.SubjectRegistered {
			t.Errorf("event %s: source %q, type %q, subject %q, outbox aggregate %q and subject %q; want %q, %q, %q, %q, %q",
				e.ID, e.Source, e.Type, e.Message.Subject, e.Aggregate, e.Subject,
				user.Source, userv1.SubjectRegistered, wantAgg, wantAgg, userv1.SubjectRegistered)
		}
		out = append(out, ur)
	}
	return out
}

// wantRegistered checks that got is the one event of the account u.
func wantRegistered(t *testing.T, got []*userv1.UserRegistered, u user.User) {
	t.Helper()
	want := &userv1.UserRegistered{UserId: u.ID, Email: u.Email, Name: u.Name}
	if len(got) != 1 || !proto.Equal(got[0], want) {
		t.Errorf("events = %v, want one: %v", got, want)
	}
}

// TestEventsOfAccounts: an account created, by sign-up or as the admin,
// has exactly one user.registered event; a sign-up or admin bootstrap that
// creates nothing has none.
func TestEventsOfAccounts(t *testing.T) {
	f := newFixture(t)
	out := newOutboxReader(f.pool)
	ctx := context.Background()

	ann, err := f.svc.SignUp(ctx, user.NewUser{Email: " Ann@Example.com ", Password: testPassword, Name: " Ann "})
	if err != nil {
		t.Fatal(err)
	}
	if ann.Email != "ann@example.com" || ann.Name != "Ann" {
		t.Fatalf("SignUp = %+v, want the email and name normalised", ann)
	}
	t.Run("sign-up", func(t *testing.T) { wantRegistered(t, out.next(t), ann) })

	admin, created, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "root@example.com", Password: "admin password", Name: "Root"})
	if err != nil || !created {
		t.Fatalf("EnsureAdmin = %v, %v", created, err)
	}
	t.Run("admin", func(t *testing.T) { wantRegistered(t, out.next(t), admin) })

	for _, tt := range []struct {
		name string
		do   func() error
	}{
		{"sign-up with a taken email", func() error {
			u, err := f.svc.SignUp(ctx, user.NewUser{Email: "ANN@example.com", Password: testPassword, Name: "Other Ann"})
			if err == nil && u.ID != "" {
				t.Errorf("second sign-up returned %+v, want a zero User", u)
			}
			return err
		}},
		{"sign-up with the admin's email", func() error {
			_, err := f.svc.SignUp(ctx, user.NewUser{Email: "root@example.com", Password: testPassword, Name: "Not Root"})
			return err
		}},
		{"admin again", func() error {
			_, created, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "root@example.com", Password: "other password", Name: "Root"})
			if created {
				t.Error("EnsureAdmin created the admin a second time")
			}
			return err
		}},
		{"admin with a customer's email", func() error {
			_, _, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "ann@example.com", Password: "admin password", Name: "Root"})
			if err == nil {
				t.Error("EnsureAdmin promoted a customer")
			}
			return nil
		}},
		{"invalid sign-up", func() error {
			if _, err := f.svc.SignUp(ctx, user.NewUser{Email: "nobody", Password: testPassword, Name: "N"}); err == nil {
				t.Error("invalid sign-up accepted")
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			if evs := out.next(t); len(evs) != 0 {
				t.Errorf("events %v, want none", evs)
			}
		})
	}
}

// TestRolledBackAccountHasNoEvent: when the event cannot be written, the
// account is not created either, and a later sign-up with the same email
// succeeds.
func TestRolledBackAccountHasNoEvent(t *testing.T) {
	f := newFixture(t)
	out := newOutboxReader(f.pool)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := f.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`ALTER TABLE outbox ADD CONSTRAINT outbox_refuses CHECK (false) NOT VALID`)
	if _, err := f.svc.SignUp(ctx, user.NewUser{Email: "bea@example.com", Password: testPassword, Name: "Bea"}); err == nil {
		t.Error("sign-up succeeded while the outbox refused its event")
	}
	if _, _, err := f.svc.EnsureAdmin(ctx, user.NewUser{Email: "root@example.com", Password: "admin password", Name: "Root"}); err == nil {
		t.Error("EnsureAdmin succeeded while the outbox refused its event")
	}
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d users (%v), want none", n, err)
	}
	if evs := out.next(t); len(evs) != 0 {
		t.Errorf("events %v, want none", evs)
	}

	exec(`ALTER TABLE outbox DROP CONSTRAINT outbox_refuses`)
	bea := f.signUp(t, "bea@example.com")
	if bea.ID == "" {
		t.Fatal("sign-up after the rollback found the email taken")
	}
	wantRegistered(t, out.next(t), bea)
}

// TestRegisteredIsPublished runs the outbox relay as cmd/user does and
// reads the event from the account service's stream.
func TestRegisteredIsPublished(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := testenv.JetStream(t, testenv.NATS(t).URL())
	if err := events.EnsureStream(ctx, js, user.EventStream); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, user.EventStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.Start(f.pool, js, outbox.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()

	cy := f.signUp(t, "cy@example.com")
	var msg *jetstream.RawStreamMsg
	for msg == nil {
		// The stream outlives a test run (-count): read past what it had.
		if msg, err = stream.GetMsg(ctx, info.State.LastSeq+1); err != nil && ctx.Err() != nil {
			t.Fatalf("no event published: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	m, err := events.Unmarshal(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != userv1.SubjectRegistered || msg.Header.Get(jetstream.MsgIDHeader) != m.ID {
		t.Errorf("published on %s with id %s, want %s with the envelope's id %s",
			msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), userv1.SubjectRegistered, m.ID)
	}
	want := &userv1.UserRegistered{UserId: cy.ID, Email: cy.Email, Name: cy.Name}
	if !proto.Equal(m.Data, want) {
		t.Errorf("published %v, want %v", m.Data, want)
	}
}
