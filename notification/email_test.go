package notification_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/notification"
	"github.com/kitshop/kitshop/notification/internal/smtptest"
)

const testEventID = "0b7e9d3c-8a44-4b8f-9f4e-3c2b1a0d9e8f"

// parseMail reads a message as a mail client would, and its body decoded.
func parseMail(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail message: %v\n%s", err, data)
	}
	if m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", m.Header.Get("Content-Transfer-Encoding"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func TestCompose(t *testing.T) {
	from := mail.Address{Name: "kitshop", Address: "shop@kitshop.example"}
	e := notification.Email{
		EventID: testEventID,
		To:      mail.Address{Name: "Zoë Ñandú", Address: "zoe@example.com"},
		Subject: "Grüße\r\nBcc: evil@example.com",
		Text:    "Hello Zoë,\n\n" + strings.Repeat("long line ", 20) + "\n\n-- \nkitshop\n",
	}
	date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	b, err := notification.Compose(from, e, date)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a bare LF in the message; SMTP wants CRLF")
	}
	m, body := parseMail(t, b)
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != "Grüße  Bcc: evil@example.com" {
		t.Errorf("Subject = %q (%v): want the line breaks gone", subject, err)
	}
	if bcc := m.Header.Get("Bcc"); bcc != "" {
		t.Errorf("a Bcc header was smuggled in: %q", bcc)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Zoë Ñandú" || to[0].Address != "zoe@example.com" {
		t.Errorf("To = %v (%v)", to, err)
	}
	for k, want := range map[string]string{
		"Message-ID":     "<notification." + testEventID + "@kitshop.example>",
		"From":           `"kitshop" <shop@kitshop.example>`,
		"Date":           "Tue, 04 Mar 2025 05:06:07 +0000",
		"Content-Type":   "text/plain; charset=utf-8",
		"MIME-Version":   "1.0",
		"Auto-Submitted": "auto-generated",
	} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if want := strings.ReplaceAll(e.Text, "\n", "\r\n"); strings.TrimRight(body, "\r\n") != strings.TrimRight(want, "\r\n") {
		t.Errorf("body = %q\nwant %q", body, want)
	}
	head, text, _ := strings.Cut(string(b), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if len(line) > 998 {
			t.Errorf("header line of %d octets: %q", len(line), line)
		}
	}
	for _, line := range strings.Split(text, "\r\n") {
		if len(line) > 76 {
			t.Errorf("body line of %d octets (quoted-printable allows 76): %q", len(line), line)
		}
	}

	if _, err := notification.Compose(from, notification.Email{To: e.To}, date); err == nil {
		t.Error("Compose without an event id: no error")
	}
}

func TestSMTPMailer(t *testing.T) {
	srv := smtptest.Start(t)
	m, err := notification.NewSMTPMailer(notification.SMTPConfig{Addr: srv.Addr(), From: "kitshop <shop@kitshop.example>"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := notification.Email{EventID: testEventID, To: mail.Address{Address: "ada@example.com"}, Subject: "Order paid", Text: "Thank you!\n"}
	if err := m.Send(ctx, e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "shop@kitshop.example" || len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@example.com" {
		t.Fatalf("received %+v", msgs)
	}
	got, body := parseMail(t, msgs[0].Data)
	if got.Header.Get("Subject") != "Order paid" || strings.TrimSpace(body) != "Thank you!" {
		t.Errorf("received subject %q, body %q", got.Header.Get("Subject"), body)
	}

	// The server's refusals: a 4xx is worth a retry, a 5xx is not.
	srv.Refuse("451 4.3.0 try again later", "550 5.1.1 no such user")
	if err := m.Send(ctx, e); err == nil || notification.IsPermanent(err) {
		t.Errorf("after 451: err = %v, want a temporary error", err)
	}
	if err := m.Send(ctx, e); !notification.IsPermanent(err) {
		t.Errorf("after 550: err = %v, want a permanent error", err)
	}
}

func TestSMTPMailerUnreachable(t *testing.T) {
	m, err := notification.NewSMTPMailer(notification.SMTPConfig{Addr: "127.0.0.1:1", From: "shop@kitshop.example"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = m.Send(ctx, notification.Email{EventID: testEventID, To: mail.Address{Address: "ada@example.com"}, Subject: "s", Text: "t"})
	if err == nil || notification.IsPermanent(err) {
		t.Errorf("err = %v, want a temporary error", err)
	}
}

func TestNewSMTPMailerRefusesBadConfig(t *testing.T) {
	for name, c := range map[string]notification.SMTPConfig{
		"no port":      {Addr: "mail.example.com", From: "shop@example.com"},
		"no host":      {Addr: ":25", From: "shop@example.com"},
		"bad sender":   {Addr: "mail.example.com:25", From: "shop"},
		"empty sender": {Addr: "mail.example.com:25"},
	} {
		if _, err := notification.NewSMTPMailer(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
