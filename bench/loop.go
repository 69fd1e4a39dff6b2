package bench

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Call is one request of a load loop; a non-nil error counts as a failed
// request. It must honour ctx.
type Call func(ctx context.Context) error

// LoopResult is what a load loop measured.
type LoopResult struct {
	Requests int64 // completed, failed ones included
	Errors   int64
	// FirstError is the first failure's message, to tell what went wrong
	// without logging every one.
	FirstError string
	Elapsed    time.Duration
	// Latencies of every completed request, sorted.
	Latencies []time.Duration
	// Late counts requests of an open loop that started later than
	// scheduled because every worker was still busy with an earlier one; their
	// latency still counts from the scheduled time.
	Late int64
}

// RPS returns completed requests per second.
func (r LoopResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Measurement returns the result in the harness's common shape.
func (r LoopResult) Measurement() Measurement {
	return Measurement{
		RPS:      r.RPS(),
		P50:      Ms(Percentile(r.Latencies, 50)),
		P99:      Ms(Percentile(r.Latencies, 99)),
		Errors:   r.Errors,
		Requests: r.Requests,
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100+0.999999999) - 1 // ceil(n*p/100) - 1
	return sorted[min(max(rank, 0), n-1)]
}

// recorder collects one worker's samples; merged once the loop ends, so the
// hot path takes no lock.
type recorder struct {
	latencies []time.Duration
	errors    int64
	firstErr  string
	late      int64
}

func (r *recorder) record(d time.Duration, err error) {
	r.latencies = append(r.latencies, d)
	if err != nil {
		if r.errors == 0 {
			r.firstErr = err.Error()
		}
		r.errors++
	}
}

func merge(recs []*recorder, elapsed time.Duration) LoopResult {
	res := LoopResult{Elapsed: elapsed}
	for _, r := range recs {
		res.Latencies = append(res.Latencies, r.latencies...)
		res.Errors += r.errors
		res.Late += r.late
		if res.FirstError == "" {
			res.FirstError = r.firstErr
		}
	}
	slices.Sort(res.Latencies)
	res.Requests = int64(len(res.Latencies))
	return res
}

// ClosedLoop runs call from workers goroutines back to back for d: each
// worker sends its next request when the previous one is answered, like
// wrk's connections. Each call gets callTimeout (0: none beyond d plus a
// grace period); the loop ends at d or when ctx ends, whichever is first.
func ClosedLoop(ctx context.Context, workers int, d, callTimeout time.Duration, call Call) LoopResult {
	workers = max(workers, 1)
	// Calls in flight at the deadline may finish (they are measured), but
	// not forever.
	ctx, cancel := context.WithTimeout(ctx, d+max(callTimeout, 5*time.Second))
	defer cancel()
	start := time.Now()
	deadline := start.Add(d)
	recs := make([]*recorder, workers)
	var wg sync.WaitGroup
	for i := range recs {
		rec := &recorder{}
		recs[i] = rec
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				cctx, ccancel := ctx, context.CancelFunc(func() {})
				if callTimeout > 0 {
					cctx, ccancel = context.WithTimeout(ctx, callTimeout)
				}
				t0 := time.Now()
				err := call(cctx)
				ccancel()
				rec.record(time.Since(t0), err)
			}
		})
	}
	wg.Wait()
	return merge(recs, time.Since(start))
}

// OpenLoop sends requests at a fixed rate (per second) for d, whether or
// not earlier requests have been answered, the way real clients arrive; so
// a slow response cannot hold back the next request and hide its own cost
// (coordinated omission). Each latency counts from the moment the request
// was due, not from when it was sent.
//
// The requests are sent by workers goroutines started beforehand, each with
// the Call newCall gives it (so a call may own a connection, as a browser
// tab or a client library does): a schedule of thousands of requests a
// second then costs a channel hand-off per request rather than a goroutine
// and a connection pool's bookkeeping, which on a small machine took the
// CPU the measured server needed. The worker last back takes the next
// request, so a rate uses as few (warm) connections as it needs. A request
// due while every worker is busy waits for the first one free (counted in
// Late), and its wait is part of its latency. Each call gets callTimeout (0: 10 s).
func OpenLoop(ctx context.Context, rate float64, d time.Duration, workers int, callTimeout time.Duration, newCall func() Call) LoopResult {
	if rate <= 0 || d <= 0 {
		return LoopResult{}
	}
	if callTimeout <= 0 {
		callTimeout = 10 * time.Second
	}
	workers = max(workers, 1)
	ctx, cancel := context.WithTimeout(ctx, d+callTimeout+5*time.Second)
	defer cancel()

	interval := time.Duration(float64(time.Second) / rate)
	total := int64(d / interval)
	type job struct {
		due  time.Time
		late bool
	}
	// Idle workers wait on a stack, and the last one back takes the next
	// request, as a client library reuses its most recently used
	// connection: a rate that needs a few connections uses a few, warm
	// ones, rather than every worker's in turn.
	pool := &workerStack{free: make(chan struct{}, 1)}
	jobs := make([]chan job, workers)
	recs := make([]*recorder, workers)
	var wg sync.WaitGroup
	for i := range recs {
		rec := &recorder{latencies: make([]time.Duration, 0, int(total)/workers+1)}
		recs[i] = rec
		jobs[i] = make(chan job, 1)
		pool.put(i)
		call := newCall()
		wg.Go(func() {
			for j := range jobs[i] {
				cctx, ccancel := context.WithTimeout(ctx, callTimeout)
				err := call(cctx)
				ccancel()
				rec.record(time.Since(j.due), err)
				if j.late {
					rec.late++
				}
				pool.put(i)
			}
		})
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
schedule:
	for i := int64(0); i < total; {
		// Send everything that is due, then sleep until the next one: one
		// timer per request would be too coarse at thousands per second.
		now := time.Now()
		for ; i < total; i++ {
			j := job{due: start.Add(time.Duration(i) * interval)}
			if j.due.After(now) {
				break
			}
			w, ok := pool.take()
			for !ok {
				j.late = true
				select {
				case <-pool.free:
				case <-ctx.Done():
					break schedule
				}
				w, ok = pool.take()
			}
			jobs[w] <- j // never blocks: the worker was idle
		}
		if i >= total {
			break
		}
		timer.Reset(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case <-timer.C:
		case <-ctx.Done():
			break schedule
		}
	}
	for _, c := range jobs {
		close(c)
	}
	wg.Wait()
	// Every request was sent within d, so the achieved rate is over d (or
	// less, when ctx ended the loop early), not over the tail that waited
	// for the last answers.
	return merge(recs, min(time.Since(start), d))
}

// workerStack holds the idle workers of an open loop, the most recently
// idle on top; free is signalled when a worker comes back.
type workerStack struct {
	mu   sync.Mutex
	idle []int
	free chan struct{}
}

func (s *workerStack) put(w int) {
	s.mu.Lock()
	s.idle = append(s.idle, w)
	s.mu.Unlock()
	select {
	case s.free <- struct{}{}:
	default: // a signal is pending already
	}
}

func (s *workerStack) take() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return 0, false
	}
	w := s.idle[n-1]
	s.idle = s.idle[:n-1]
	return w, true
}
