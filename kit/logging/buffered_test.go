package logging_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/logging"
)

// lockedBuffer is a bytes.Buffer that counts the writes it gets.
type lockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *lockedBuffer) state() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.writes
}

func TestBufferedWriterBatches(t *testing.T) {
	var out lockedBuffer
	w := logging.NewBufferedWriter(&out, 1<<20, time.Hour)
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if got, writes := out.state(); got != "" || writes != 0 {
		t.Fatalf("written before a flush: %d writes, %q", writes, got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.state()
	if writes != 1 {
		t.Errorf("%d writes for 100 lines, want 1", writes)
	}
	if lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n"); len(lines) != 100 || lines[0] != "line 0" || lines[99] != "line 99" {
		t.Errorf("lines out of order or missing: %d lines, first %q", len(lines), lines[0])
	}
}

func TestBufferedWriterFlushesWhenFull(t *testing.T) {
	var out lockedBuffer
	w := logging.NewBufferedWriter(&out, 64, time.Hour)
	defer w.Close()
	line := strings.Repeat("x", 39) + "\n" // 40 bytes
	w.Write([]byte(line))
	if _, writes := out.state(); writes != 0 {
		t.Fatalf("flushed below the size")
	}
	w.Write([]byte(line)) // 80 bytes >= 64
	if got, writes := out.state(); writes != 1 || got != line+line {
		t.Errorf("after filling: %d writes, %q; want one write of both lines", writes, got)
	}
}

func TestBufferedWriterFlushesOnInterval(t *testing.T) {
	var out lockedBuffer
	w := logging.NewBufferedWriter(&out, 1<<20, 20*time.Millisecond)
	defer w.Close()
	w.Write([]byte("msg=listening\n"))
	deadline := time.Now().Add(2 * time.Second)
	for {
		if got, _ := out.state(); got == "msg=listening\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("line not written within 2s of a 20ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestBufferedWriterReportsWriteErrors(t *testing.T) {
	w := logging.NewBufferedWriter(failingWriter{}, 1<<20, time.Hour)
	w.Write([]byte("a\n"))
	if err := w.Flush(); err == nil {
		t.Fatal("Flush = nil, want the write error")
	}
	if _, err := w.Write([]byte("b\n")); err == nil {
		t.Error("Write after a failed flush = nil, want the error")
	}
	if err := w.Close(); err == nil {
		t.Error("Close = nil, want the error")
	}
}

// TestBufferedWriterConcurrent writes from many goroutines through a
// logger, as the commands do, and checks every line arrives whole.
func TestBufferedWriterConcurrent(t *testing.T) {
	var out lockedBuffer
	w := logging.NewBufferedWriter(&out, 256, time.Millisecond)
	logger := logging.New(w, logging.FormatLogfmt)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				logger.Log("msg", "request", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	w.Close()
	got, _ := out.state()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "ts=") || !strings.Contains(l, " msg=request g=") {
			t.Fatalf("mangled line %q", l)
		}
	}
}
