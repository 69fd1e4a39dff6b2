package logging

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/requestid"
)

// Audit writes a service's domain audit trail: one line per change, with
// the operation, the request id, what the caller adds (ids, never client
// text or secrets), how long it took and, on failure, the error kind.
// Rejected requests (business errors) are info, failures error with their
// cause, as in EndpointMiddleware; a rejection's cause is the client's
// input, so it is not logged.
type Audit struct {
	logger          log.Logger
	done, attempted string
}

// NewAudit returns an audit trail whose lines say done ("catalog changed")
// on success and "<attempted> rejected" or "<attempted> failed" ("catalog
// change rejected") otherwise.
func NewAudit(logger log.Logger, done, attempted string) Audit {
	return Audit{logger: logger, done: done, attempted: attempted}
}

// Log writes the line of one operation, op, that began at begin and ended
// with err.
func (a Audit) Log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	l, msg := level.Info(a.logger), a.done
	line := append(AppendTrace([]any{"msg", "", "op", op, "request_id", requestid.FromContext(ctx)}, ctx), kvs...)
	if err != nil {
		kind := errs.KindOf(err)
		msg = a.attempted + " rejected"
		line = append(line, "kind", kind)
		if !kind.Business() {
			l, msg = level.Error(a.logger), a.attempted+" failed"
			line = append(line, "err", err)
		}
	}
	line[1] = msg
	l.Log(append(line, "took", time.Since(begin))...)
}
