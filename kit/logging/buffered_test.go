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

// TestBufferedWriterFlushesWhenFull checks that a full buffer goes out at
// once, long before the interval, and in one write.
func TestBufferedWriterFlushesWhenFull(t *testing.T) {
	var out lockedBuffer
	w := logging.NewBufferedWriter(&out, 64, time.Hour)
	defer w.Close()
	line := strings.Repeat("x", 39) + "\n" // 40 bytes
	w.Write([]byte(line))
	time.Sleep(20 * time.Millisecond)
	if _, writes := out.state(); writes != 0 {
		t.Fatalf("flushed below the size")
	}
	w.Write([]byte(line)) // 80 bytes >= 64
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, writes := out.state()
		if writes == 1 && got == line+line {
			return
		}
		if writes > 1 || time.Now().After(deadline) {
			t.Fatalf("after filling: %d writes, %q; want one write of both lines", writes, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockingWriter holds every Write until release is closed, saying on
// entered when one has begun.
type blockingWriter struct {
	lockedBuffer
	entered chan struct{}
	release chan struct{}
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.lockedBuffer.Write(p)
}

// TestBufferedWriterDoesNotWaitForTheWrite checks that the Writes that fill
// the buffer return while the underlying writer is stuck, and that a Write
// finding twice the size waiting waits for it (memory stays bounded), with
// nothing lost or reordered.
func TestBufferedWriterDoesNotWaitForTheWrite(t *testing.T) {
	out := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := logging.NewBufferedWriter(out, 64, time.Hour)
	line := func(i int) []byte { return fmt.Appendf(nil, "%038d\n", i) } // 39 bytes
	write := func(i int) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			w.Write(line(i))
			close(done)
		}()
		return done
	}
	returns := func(i int, done <-chan struct{}) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("Write %d held up by the stuck underlying writer", i)
		}
	}
	// Lines 0 and 1 fill the buffer, which the writer's goroutine takes
	// and gets stuck writing.
	returns(0, write(0))
	returns(1, write(1))
	select {
	case <-out.entered:
	case <-time.After(2 * time.Second):
		t.Fatal("the full buffer was not written out")
	}
	// 2 to 4 fill the other buffer past its size; 5 finds twice the size
	// waiting.
	for i := 2; i <= 4; i++ {
		returns(i, write(i))
	}
	fifth := write(5)
	select {
	case <-fifth:
		t.Fatal("Write 5 returned with twice the size waiting, want it to wait")
	case <-time.After(50 * time.Millisecond):
	}
	close(out.release)
	returns(5, fifth)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 6 {
		want.Write(line(i))
	}
	if got, _ := out.state(); got != want.String() {
		t.Errorf("written %q, want every line in order %q", got, want.String())
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
