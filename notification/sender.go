package notification

import (
	"context"
	"net/mail"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// QueuedEmail is an email claimed from the queue: a notification, its
// recipient and how many times it has been tried, this time included.
type QueuedEmail struct {
	NotificationID string
	EventID        string
	To             mail.Address
	Subject        string // the notification's title
	Text           string // the notification's body
	Attempts       int
}

// EmailQueue is the queue of emails to send.
type EmailQueue interface {
	// ClaimEmail takes one due email and keeps it from every other
	// sender for lease (next_attempt_at moves ahead by lease); false when
	// none is due.
	ClaimEmail(ctx context.Context, lease time.Duration) (QueuedEmail, bool, error)
	// EmailSent records that the email was sent.
	EmailSent(ctx context.Context, notificationID string) error
	// RetryEmail makes the email due again after the given time.
	RetryEmail(ctx context.Context, notificationID string, after time.Duration, cause string) error
	// GiveUpEmail records that the email will never be sent.
	GiveUpEmail(ctx context.Context, notificationID, cause string) error
}

// SenderOptions tune a Sender; zero values mean the defaults.
type SenderOptions struct {
	// Poll is how often the sender looks for due emails without being
	// woken: for retries, and for emails another instance queued
	// (default 5 s).
	Poll time.Duration
	// SendTimeout bounds one SMTP session (default 30 s). A claim lasts
	// twice as long, so a sender never loses its claim mid-send.
	SendTimeout time.Duration
	// MaxAttempts is how many times an email is tried before the sender
	// gives up (default 10); a permanent refusal (5xx) gives up at once.
	MaxAttempts int
	// Backoff is the wait after the attempt-th failure (default
	// DefaultEmailBackoff).
	Backoff func(attempt int) time.Duration
	// Logger logs failures and give-ups by notification id (the
	// server's reply may quote the address; the sender adds none).
	Logger log.Logger
	// Registerer, when set, gets kitshop_notification_emails_total by
	// outcome (sent, retried, failed).
	Registerer prometheus.Registerer
}

// DefaultEmailBackoff waits 10 s after the first failure, doubling up to
// 30 min: ten attempts span about an hour and a half.
func DefaultEmailBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 9 {
		return 30 * time.Minute
	}
	return min(10*time.Second<<(attempt-1), 30*time.Minute)
}

// Sender sends the queued emails until Stop. Each instance of the service
// runs one; they share the queue.
type Sender struct {
	queue  EmailQueue
	mailer Mailer
	o      SenderOptions
	sent   *prometheus.CounterVec

	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartSender starts sending what queue holds with mailer. It fails only
// if registering its counter fails.
func StartSender(queue EmailQueue, mailer Mailer, o SenderOptions) (*Sender, error) {
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff == nil {
		o.Backoff = DefaultEmailBackoff
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	s := &Sender{queue: queue, mailer: mailer, o: o, wake: make(chan struct{}, 1)}
	if o.Registerer != nil {
		s.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "notification", Name: "emails_total",
			Help: "Email attempts by outcome: sent, retried (failed, tried again later) or failed (given up).",
		}, []string{"outcome"})
		if err := o.Registerer.Register(s.sent); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
	return s, nil
}

// Wake makes the sender look for due emails now: call it after committing
// a transaction that queued one. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stop ends the sender and waits for it. An email being sent is cut off
// and due again at once, for the next sender.
func (s *Sender) Stop() {
	s.cancel()
	s.wg.Wait()
}

func (s *Sender) loop(ctx context.Context) {
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	for ctx.Err() == nil {
		claimed, err := s.sendOne(ctx)
		if err != nil && ctx.Err() == nil {
			level.Warn(s.o.Logger).Log("msg", "email queue unavailable", "err", err)
		}
		if claimed {
			continue // probably more due
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// sendOne claims one due email, sends it and settles it; false when none
// was due.
func (s *Sender) sendOne(ctx context.Context) (bool, error) {
	// The claim is never cut off: a statement Postgres has received runs
	// even when its client gives up, and would leave an email claimed by
	// nobody until the claim ran out. One claimed while stopping is
	// released below.
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	q, ok, err := s.queue.ClaimEmail(claimCtx, 2*s.o.SendTimeout)
	cancel()
	if err != nil || !ok {
		return false, err
	}
	sendCtx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
	err = s.send(sendCtx, q) // fails at once when stopping
	cancel()
	// Settle even while stopping, so that a cut-off email is due again at
	// once rather than after its claim runs out.
	settleCtx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelSettle()
	logger := log.With(s.o.Logger, "notification_id", q.NotificationID, "attempt", q.Attempts)
	switch {
	case err == nil:
		s.count("sent")
		return true, s.queue.EmailSent(settleCtx, q.NotificationID)
	case ctx.Err() != nil:
		return true, s.queue.RetryEmail(settleCtx, q.NotificationID, 0, "interrupted by shutdown")
	case IsPermanent(err) || q.Attempts >= s.o.MaxAttempts:
		s.count("failed")
		level.Error(logger).Log("msg", "email given up", "err", err)
		return true, s.queue.GiveUpEmail(settleCtx, q.NotificationID, err.Error())
	default:
		s.count("retried")
		wait := s.o.Backoff(q.Attempts)
		level.Warn(logger).Log("msg", "email failed; will retry", "retry_in", wait, "err", err)
		return true, s.queue.RetryEmail(settleCtx, q.NotificationID, wait, err.Error())
	}
}

func (s *Sender) send(ctx context.Context, q QueuedEmail) error {
	if q.To.Address == "" {
		return errNoRecipient
	}
	return s.mailer.Send(ctx, Email{
		EventID: q.EventID,
		To:      q.To,
		Subject: q.Subject,
		Text:    EmailText(q.To.Name, q.Text),
	})
}

// errNoRecipient is permanent: emails are queued only for known
// recipients, and recipients are never deleted.
var errNoRecipient = &permanentError{"the recipient's address is unknown"}

func (s *Sender) count(outcome string) {
	if s.sent != nil {
		s.sent.WithLabelValues(outcome).Inc()
	}
}
