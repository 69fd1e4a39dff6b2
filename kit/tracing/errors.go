package tracing

import (
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// errorLog is OpenTelemetry's error handler: it logs an error at warn
// level, then stays quiet for the interval, counting what it skipped. An
// exporter that cannot reach its collector fails every batch, every
// second; a line a minute says so without burying the service's own.
type errorLog struct {
	logger   log.Logger
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	skipped int
}

func newErrorLog(logger log.Logger, interval time.Duration) *errorLog {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &errorLog{logger: level.Warn(logger), interval: interval}
}

// Handle implements otel.ErrorHandler.
func (e *errorLog) Handle(err error) {
	e.mu.Lock()
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < e.interval {
		e.skipped++
		e.mu.Unlock()
		return
	}
	skipped := e.skipped
	e.last, e.skipped = now, 0
	e.mu.Unlock()
	e.logger.Log("msg", "tracing error", "err", err, "skipped_since_last", skipped)
}
