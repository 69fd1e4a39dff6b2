package notification

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// Email is one email to send: a notification for its user.
type Email struct {
	// EventID is the id of the event the notification came from; the
	// Message-ID derives from it (MessageID).
	EventID string
	To      mail.Address
	Subject string
	Text    string // plain text, lines separated by "\n"
}

// Mailer sends emails.
type Mailer interface {
	// Send sends e, within ctx's deadline. An error that IsPermanent will
	// fail again however often it is retried.
	Send(ctx context.Context, e Email) error
}

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	// Addr is the server, host:port.
	Addr string
	// From is the sender, "kitshop <shop@example.com>" or a bare address.
	From string
	// Username and Password, when set, authenticate with AUTH PLAIN, which
	// net/smtp uses only over TLS (STARTTLS) or to a server on localhost.
	Username, Password string
}

// SMTPMailer is a Mailer over SMTP (net/smtp). It upgrades to TLS when the
// server offers STARTTLS.
type SMTPMailer struct {
	addr, host string
	from       mail.Address
	auth       smtp.Auth
}

// NewSMTPMailer checks c and returns a mailer for it.
func NewSMTPMailer(c SMTPConfig) (*SMTPMailer, error) {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("notification: SMTP address %q: want host:port", c.Addr)
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("notification: sender %q: %w", c.From, err)
	}
	m := &SMTPMailer{addr: c.Addr, host: host, from: *from}
	if c.Username != "" {
		m.auth = smtp.PlainAuth("", c.Username, c.Password, host)
	}
	return m, nil
}

// Send implements Mailer: one SMTP session per email.
func (m *SMTPMailer) Send(ctx context.Context, e Email) error {
	msg, err := Compose(m.from, e, time.Now())
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp has no contexts: the deadline and a cancellation reach it
	// through the connection.
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(e.To.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // the server's answer to the message
		return err
	}
	return c.Quit()
}

// IsPermanent reports whether err is an SMTP server's permanent refusal
// (a 5xx reply: unknown mailbox, message refused), or another failure that
// retrying cannot help.
func IsPermanent(err error) bool {
	var reply *textproto.Error
	var p *permanentError
	return errors.As(err, &reply) && reply.Code >= 500 && reply.Code < 600 || errors.As(err, &p)
}

// permanentError is a failure of the service's own that no retry fixes.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// MessageID is the Message-ID of the email of event eventID sent from
// from's domain: the same for every attempt, so a mail that went out twice
// (a sender that died between the server's acceptance and marking it sent)
// is recognisably one message.
func MessageID(eventID string, from mail.Address) string {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return "<notification." + eventID + "@" + domain + ">"
}

// Compose returns e as an RFC 5322 message from from, dated date: UTF-8
// plain text, quoted-printable, with CRLF line ends.
func Compose(from mail.Address, e Email, date time.Time) ([]byte, error) {
	if !strings.Contains(from.Address, "@") || !strings.Contains(e.To.Address, "@") || e.EventID == "" {
		return nil, errors.New("notification: an email needs a sender, a recipient and an event id")
	}
	// Every value is one line: no header can be smuggled in.
	oneLine := strings.NewReplacer("\r", " ", "\n", " ").Replace
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + oneLine(value) + "\r\n") }
	e.To.Name = oneLine(e.To.Name)
	header("From", from.String())
	header("To", e.To.String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(e.Subject)))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", MessageID(e.EventID, from))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(e.Text, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// EmailText is the text of a notification's email to a user named name
// ("" if unknown).
func EmailText(name, body string) string {
	greeting := "Hello,"
	if name != "" {
		greeting = "Hello " + name + ","
	}
	return greeting + "\n\n" + body + "\n\n-- \nkitshop: you receive this email because you have an account with us.\n"
}
