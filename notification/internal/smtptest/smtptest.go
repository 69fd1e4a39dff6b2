// Package smtptest is a tiny SMTP server for tests: it listens on a
// loopback port, accepts every message (or refuses the next ones with a
// reply of the test's choice), and keeps what it received. It speaks just
// enough ESMTP for net/smtp: no TLS, no AUTH.
package smtptest

import (
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte // the message as sent, dot-stuffing undone, CRLF line ends
}

// Server is a running test SMTP server.
type Server struct {
	ln net.Listener

	mu       sync.Mutex
	msgs     []Message
	refusals []string // replies to the next DATA transactions, in order
	arrived  chan struct{}

	wg sync.WaitGroup
}

// Start starts a server on 127.0.0.1; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln, arrived: make(chan struct{}, 1)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Refuse makes the server answer the next len(replies) messages with the
// replies ("451 4.3.0 try again later", "550 5.1.1 no such user") instead
// of accepting them.
func (s *Server) Refuse(replies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, replies...)
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until the server has accepted n messages, and fails the test
// after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("smtptest: %d messages after %v, want %d", len(s.Messages()), timeout, n)
		}
	}
}

func (s *Server) close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			s.session(textproto.NewConn(conn))
		}()
	}
}

// session runs one SMTP session.
func (s *Server) session(c *textproto.Conn) {
	reply := func(lines ...string) bool {
		for _, l := range lines {
			if err := c.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	if !reply("220 smtptest ESMTP") {
		return
	}
	var msg Message
	for {
		line, err := c.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		ok := true
		switch strings.ToUpper(verb) {
		case "EHLO":
			ok = reply("250-smtptest", "250 8BITMIME")
		case "HELO", "NOOP":
			ok = reply("250 ok")
		case "RSET":
			msg = Message{}
			ok = reply("250 ok")
		case "MAIL":
			msg = Message{From: address(arg)}
			ok = reply("250 ok")
		case "RCPT":
			msg.To = append(msg.To, address(arg))
			ok = reply("250 ok")
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			data, err := io.ReadAll(c.DotReader())
			if err != nil {
				return
			}
			msg.Data = []byte(strings.ReplaceAll(string(data), "\n", "\r\n"))
			ok = reply(s.accept(msg))
			msg = Message{}
		case "QUIT":
			reply("221 bye")
			return
		default:
			ok = reply("502 command not implemented")
		}
		if !ok {
			return
		}
	}
}

// accept keeps msg, or refuses it with the next refusal; it returns the
// reply.
func (s *Server) accept(msg Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refusals) > 0 {
		r := s.refusals[0]
		s.refusals = s.refusals[1:]
		return r
	}
	s.msgs = append(s.msgs, msg)
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return "250 2.0.0 queued"
}

// address returns the address in "FROM:<a@b> BODY=8BITMIME" or "TO:<a@b>".
func address(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}
