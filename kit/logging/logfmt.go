package logging

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-logfmt/logfmt"
)

// logfmtLogger writes logfmt lines exactly as go-kit's log.NewLogfmtLogger
// does, faster for the values log lines are mostly made of.
//
// go-kit encodes every value through go-logfmt, which formats integers and
// booleans with fmt.Sprint (reflection and an allocation each) and filters
// every key rune by rune. A line of the gateway's access log spent most of
// its time there. This logger writes string keys and values that need no
// quoting, integers, booleans and durations itself, and hands every other
// pair to go-logfmt, so the output is byte for byte go-kit's (the tests
// compare the two on a table of awkward values).
type logfmtLogger struct {
	w    io.Writer
	pool sync.Pool // *logfmtLine
}

// logfmtLine is the buffer of one line, with a go-logfmt encoder writing
// into it for the pairs the fast path leaves alone.
type logfmtLine struct {
	buf bytes.Buffer
	enc *logfmt.Encoder
}

// NewLogfmt returns a logger writing logfmt lines to w, byte for byte what
// go-kit's log.NewLogfmtLogger writes, faster. New uses it; it is exported
// for callers that assemble their own logger. Like go-kit's, it makes one
// Write per line and does not serialise them: wrap w in log.NewSyncWriter
// when several goroutines log.
func NewLogfmt(w io.Writer) log.Logger { return newLogfmtLogger(w) }

func newLogfmtLogger(w io.Writer) *logfmtLogger {
	l := &logfmtLogger{w: w}
	l.pool.New = func() any {
		line := &logfmtLine{}
		line.enc = logfmt.NewEncoder(&line.buf)
		return line
	}
	return l
}

// Log implements log.Logger: one Write per line, as go-kit's loggers do.
func (l *logfmtLogger) Log(keyvals ...any) error {
	line := l.pool.Get().(*logfmtLine)
	defer l.pool.Put(line)
	line.buf.Reset()
	if len(keyvals)%2 == 1 {
		keyvals = append(keyvals, nil)
	}
	for i := 0; i < len(keyvals); i += 2 {
		if err := line.pair(keyvals[i], keyvals[i+1]); err != nil {
			return err
		}
	}
	line.buf.WriteByte('\n')
	_, err := l.w.Write(line.buf.Bytes())
	return err
}

// pair writes one key-value pair, preceded by a space unless it is the
// first of the line.
func (line *logfmtLine) pair(k, v any) error {
	start := line.buf.Len()
	if start > 0 {
		line.buf.WriteByte(' ')
	}
	if key, ok := k.(string); ok && plain(key) && key != "" {
		line.buf.WriteString(key)
		line.buf.WriteByte('=')
		if line.value(v) {
			return nil
		}
		line.buf.Truncate(start)
		if start > 0 {
			line.buf.WriteByte(' ')
		}
	}
	return line.slow(start, k, v)
}

// value writes v if the fast path knows how to, exactly as go-logfmt would,
// and reports whether it did.
func (line *logfmtLine) value(v any) bool {
	b := line.buf.AvailableBuffer()
	switch v := v.(type) {
	case string:
		if !plain(v) || v == "null" {
			return false
		}
		line.buf.WriteString(v)
		return true
	case int:
		b = strconv.AppendInt(b, int64(v), 10)
	case int64:
		b = strconv.AppendInt(b, v, 10)
	case int32:
		b = strconv.AppendInt(b, int64(v), 10)
	case uint:
		b = strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		b = strconv.AppendUint(b, v, 10)
	case uint32:
		b = strconv.AppendUint(b, uint64(v), 10)
	case bool:
		b = strconv.AppendBool(b, v)
	case *traceIDValue:
		b = v.appendText(b) // hex digits: nothing to quote
	case *spanIDValue:
		b = v.appendText(b)
	case time.Duration:
		// "1.5s", "250µs", "-3m0s": no rune that needs quoting.
		line.buf.WriteString(v.String())
		return true
	default:
		return false
	}
	line.buf.Write(b)
	return true
}

// slow writes the pair with go-logfmt's encoder, with its rules for pairs it
// cannot encode (go-logfmt's Encoder.EncodeKeyvals): a key of an unsupported
// type drops the pair, a value that cannot be encoded is replaced by the
// error saying so, and any other error drops the line.
func (line *logfmtLine) slow(start int, k, v any) error {
	// The separator is ours: a reset encoder writes none.
	line.enc.Reset()
	err := line.enc.EncodeKeyval(k, v)
	var merr *logfmt.MarshalerError
	if errors.As(err, &merr) || errors.Is(err, logfmt.ErrUnsupportedValueType) {
		line.enc.Reset()
		err = line.enc.EncodeKeyval(k, err)
	}
	if err != nil {
		// The encoder writes a pair whole or not at all; take the
		// separator back too.
		line.buf.Truncate(start)
		if errors.Is(err, logfmt.ErrUnsupportedKeyType) {
			return nil
		}
		return err
	}
	return nil
}

// plain reports whether s can be written as a logfmt key or value as it is:
// printable ASCII without space, '=' or '"'. Anything else (including any
// non-ASCII rune) takes go-logfmt's path, which quotes or filters it.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '=' || c == '"' {
			return false
		}
	}
	return true
}
