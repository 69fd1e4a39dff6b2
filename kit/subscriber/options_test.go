package subscriber_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/subscriber"
)

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{6, 32 * time.Second}, {7, time.Minute}, {100, time.Minute},
	}
	for _, tt := range tests {
		if got := subscriber.DefaultBackoff(tt.attempt); got != tt.want {
			t.Errorf("DefaultBackoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

type unreachable struct{}

func (unreachable) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return nil, errors.New("broker unreachable")
}

type countErrors struct{ n atomic.Int32 }

func (c *countErrors) Handle(context.Context, error) { c.n.Add(1) }

// TestFailedDeadLetterKeepsTheMessage: when the dead letter cannot be
// published, the message is nak'ed rather than terminated, so it is not
// lost: it keeps coming past MaxDeliver.
func TestFailedDeadLetterKeepsTheMessage(t *testing.T) {
	e := setup(t)
	var calls atomic.Int32
	errH := &countErrors{}
	sub := subscriber.New(func(context.Context, any) (any, error) {
		calls.Add(1)
		return nil, errs.New(errs.Unavailable, "down")
	}, decodeString,
		subscriber.MaxDeliver(2),
		subscriber.Backoff(func(int) time.Duration { return 10 * time.Millisecond }),
		subscriber.DeadLetter(unreachable{}, e.dlq),
		subscriber.ErrorHandler(errH),
		subscriber.Metrics(e.reg))
	cc, err := e.consumer.Consume(sub.Handle)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	e.publish(t, "pay", "ev-k", "charge 10")
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("endpoint ran %d times; the message stopped coming", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cc.Stop()
	if n := e.counter(t, "kitshop_subscriber_dead_letters_total"); n != 0 {
		t.Errorf("dead letters = %v, want 0 (none was published)", n)
	}
	if errH.n.Load() < 5 {
		t.Errorf("error handler saw %d errors, want one per delivery (>= 5)", errH.n.Load())
	}
	if info, err := e.stream.Info(context.Background()); err != nil || info.State.Msgs != 1 {
		t.Errorf("stream = %+v, %v; want the message kept", info, err)
	}
}

func TestOnceRejectsAnEmptyEventID(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, subscriber.InboxSchema); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := subscriber.Once(ctx, tx, "test", "")
		return err
	})
	if err == nil {
		t.Error("Once accepted an empty event id")
	}
}

// TestOnceInTheSameTx: a rolled-back first attempt leaves no inbox row, so
// the next attempt is first again; a committed one makes later ones not
// first.
func TestOnceInTheSameTx(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, subscriber.InboxSchema); err != nil {
		t.Fatal(err)
	}
	once := func(commit bool) bool {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		first, err := subscriber.Once(ctx, tx, "test", "ev-1")
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return first
	}
	for i, tt := range []struct {
		commit, want bool
	}{{false, true}, {true, true}, {true, false}, {false, false}} {
		if got := once(tt.commit); got != tt.want {
			t.Errorf("attempt %d (commit %v): first = %v, want %v", i, tt.commit, got, tt.want)
		}
	}
}
