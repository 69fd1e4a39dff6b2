package logging

import (
	"io"
	"sync"
	"time"
)

// Defaults of NewBufferedWriter.
const (
	// DefaultFlushInterval bounds how long a line waits in the buffer, and
	// so how many lines a crash can lose.
	DefaultFlushInterval = 100 * time.Millisecond
	// DefaultBufferSize is the amount of lines' bytes that makes the writer
	// flush at once, without waiting for the interval.
	DefaultBufferSize = 32 << 10
)

// BufferedWriter collects log lines in memory and writes them out in
// batches: when size bytes have accumulated, and otherwise at least every
// interval, from a goroutine of its own. A process that logs a line per
// request (the gateway's access log) then pays one write system call per
// batch instead of one per line, which measured at 3 to 4% of the
// gateway's CPU.
//
// A full buffer is written out by that goroutine too, not by the Write that
// filled it: the write system call, which waits for the file system (a
// journal commit, dirty pages throttled while other processes write), then
// never holds up the request that happened to log the line that filled the
// buffer: with the gateway's access log, one request in about a hundred.
//
// The price is that lines reach w up to interval late, and that a process
// killed outright (SIGKILL, a fatal runtime error) loses what is still
// buffered, at most interval's worth. Flush or Close before exiting, as the
// commands do once their server has stopped; an ordinary shutdown loses
// nothing. Lines are never dropped or reordered, and memory stays bounded:
// a Write that finds twice size bytes waiting (w is slower than the lines
// come) flushes them itself, so under a flood the writer degrades to one
// write per size bytes made by the writers, as before.
//
// Use it under log.NewSyncWriter, or with a logger that makes one Write per
// line (every go-kit logger does); it is safe for concurrent use either
// way.
type BufferedWriter struct {
	w        io.Writer
	size     int
	interval time.Duration

	mu  sync.Mutex
	buf []byte
	err error // the first error writing to w, returned by later calls

	flushing sync.Mutex    // serialises writes to w, in order
	spare    []byte        // the other buffer, while buf fills; guarded by flushing
	kick     chan struct{} // a full buffer for loop to write; capacity 1
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// NewBufferedWriter returns a BufferedWriter to w; zero size and interval
// mean DefaultBufferSize and DefaultFlushInterval. Close it to stop its
// goroutine.
func NewBufferedWriter(w io.Writer, size int, interval time.Duration) *BufferedWriter {
	if size <= 0 {
		size = DefaultBufferSize
	}
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	b := &BufferedWriter{w: w, size: size, interval: interval, buf: make([]byte, 0, size),
		spare: make([]byte, 0, size), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// Write appends p to the buffer. A buffer that has reached its size is
// handed to the writer's goroutine; one that has reached twice its size
// (that goroutine has not kept up) is written out by Write itself. It
// reports an earlier failure to write to the underlying writer, if any.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	if err := b.err; err != nil {
		b.mu.Unlock()
		return 0, err
	}
	b.buf = append(b.buf, p...)
	n := len(b.buf)
	b.mu.Unlock()
	switch {
	case n >= 2*b.size:
		return len(p), b.Flush()
	case n >= b.size:
		select {
		case b.kick <- struct{}{}:
		default: // a kick is pending already
		}
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (b *BufferedWriter) Flush() error {
	// flushing keeps batches in order: a batch taken from the buffer is
	// written before the next one is taken.
	b.flushing.Lock()
	defer b.flushing.Unlock()
	b.mu.Lock()
	batch := b.buf
	if len(batch) == 0 {
		err := b.err
		b.mu.Unlock()
		return err
	}
	b.buf = b.spare[:0]
	b.mu.Unlock()

	_, err := b.w.Write(batch)
	b.spare = batch
	if err != nil {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return err
}

// Close flushes the buffer and stops the writer's goroutine. Writes after
// Close go out on the next Flush (or with a full buffer).
func (b *BufferedWriter) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
	})
	return b.Flush()
}

func (b *BufferedWriter) loop() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.Flush()
		case <-b.kick:
			b.Flush()
		}
	}
}
