package testlog

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer collects log output written from any goroutine. The zero value
// is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the non-empty lines holding every one of subs.
func (b *Buffer) Lines(subs ...string) []string {
	var out []string
	for l := range strings.SplitSeq(b.String(), "\n") {
		if l != "" && containsAll(l, subs) {
			out = append(out, l)
		}
	}
	return out
}

// Wait waits up to timeout for a line holding every one of subs and
// returns the first such line; the test fails, showing the log, if none
// comes. Code that acts and then logs can be seen to have acted before its
// line is written: waiting for the line is what makes reading it safe.
func (b *Buffer) Wait(t testing.TB, timeout time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if lines := b.Lines(subs...); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %v:\n%s", subs, timeout, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
