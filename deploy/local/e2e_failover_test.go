package local_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
)

// The failover stream: a few clients, each sending one GET per tick, kept
// well under the gateway's default per-client rate limit (100/s) so every
// failure is the lost instance's doing and none is a 429.
const (
	streamWorkers = 4
	streamPace    = 60 * time.Millisecond // per worker: at most ~67 requests/s in all
	streamTimeout = 5 * time.Second       // one request
	beforeKill    = 2500 * time.Millisecond
	afterCritical = 4 * time.Second
	// criticalTimeout bounds the wait for Consul to fail the killed
	// instance's checks (every 2 s, 1 s timeout: it normally takes 1-3 s).
	criticalTimeout = 20 * time.Second
	// maxKillWindowFailures is what may fail between the kill and Consul
	// noticing it. The gateway retries a failed GET once on the other
	// instance, so none should; a couple of unlucky requests are allowed.
	maxKillWindowFailures = 3
)

// Phases of the failover stream.
const (
	phaseBefore   = iota // both instances up
	phaseWindow          // one killed, Consul still lists it as passing
	phaseCritical        // Consul has failed the killed instance
	phases
)

var phaseNames = [phases]string{"before the kill", "kill window", "after Consul marked it critical"}

// tally counts the outcomes of the stream per phase. A request counts in the
// kill window if it was under way at any time during it.
type tally struct {
	mu       sync.Mutex
	ok       [phases]int
	failed   [phases]int
	examples [phases][]string // the first few failures of each phase
}

func (ta *tally) add(phase int, failure string) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if failure == "" {
		ta.ok[phase]++
		return
	}
	ta.failed[phase]++
	if len(ta.examples[phase]) < 5 {
		ta.examples[phase] = append(ta.examples[phase], failure)
	}
}

// testFailover streams GETs through the gateway while one product instance
// is killed with SIGKILL (no deregistration, no draining: a crash), and
// checks that clients barely notice and, once Consul has failed the
// instance, do not notice at all.
func testFailover(t *testing.T, stack *local.Stack) {
	instances := stack.Instances("product")
	if len(instances) < 2 {
		t.Fatalf("failover needs two product instances, have %d", len(instances))
	}
	victim, survivor := instances[0], instances[1]

	var (
		phase atomic.Int32
		ta    tally
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	stopped := false
	stopStream := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopStream()

	// The victim's log has a line per call, naming the endpoint: the count
	// before and after the first phase tells whether it got its share.
	servedBefore := countInLog(t, victim.Process.LogPath(), "ListProducts")
	httpClient := &http.Client{Timeout: streamTimeout}
	url := stack.GatewayURL() + "/api/v1/products?limit=5"
	for range streamWorkers {
		wg.Go(func() {
			tick := time.NewTicker(streamPace)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				start := phase.Load()
				failure := probe(httpClient, url)
				end := phase.Load()
				p := int(start)
				if start == phaseBefore && end != phaseBefore {
					p = phaseWindow
				}
				ta.add(p, failure)
			}
		})
	}

	time.Sleep(beforeKill)
	// Round robin must have sent the victim its share of the stream, or
	// killing it would test nothing.
	if served := countInLog(t, victim.Process.LogPath(), "ListProducts") - servedBefore; served == 0 {
		t.Errorf("%s served none of the stream before the kill; the gateway does not balance", victim.ID)
	} else {
		t.Logf("failover: %s served %d list requests before the kill", victim.ID, served)
	}
	phase.Store(phaseWindow)
	killedAt := time.Now()
	if err := victim.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL %s: %v", victim.ID, err)
	}
	if !gone(victim.Process) {
		t.Errorf("%s (pid %d) still there after SIGKILL", victim.ID, victim.Process.Pid())
	}

	checks, err := awaitCritical(stack, victim.ID, survivor.ID)
	if err != nil {
		t.Fatalf("after killing %s: %v", victim.ID, err)
	}
	critical := time.Since(killedAt)
	phase.Store(phaseCritical)
	time.Sleep(afterCritical)
	stopStream()
	// An idle keep-alive connection that never carried a request would hold
	// up the gateway's graceful shutdown for seconds.
	httpClient.CloseIdleConnections()

	t.Logf("failover: killed %s (SIGKILL); Consul marked it failed after %s (checks: %s)",
		victim.ID, critical.Round(time.Millisecond), checks)
	t.Logf("failover: the gateway retried %d requests on another instance",
		countInLog(t, gatewayLog(stack), "retrying on another instance"))
	for p := range phases {
		t.Logf("failover: %-31s %4d ok, %d failed %v", phaseNames[p]+":", ta.ok[p], ta.failed[p], ta.examples[p])
	}

	if n := ta.failed[phaseBefore]; n != 0 {
		t.Errorf("%d requests failed with both instances up, want 0", n)
	}
	if n := ta.failed[phaseWindow]; n > maxKillWindowFailures {
		t.Errorf("%d requests failed between the kill and Consul noticing, want at most %d", n, maxKillWindowFailures)
	}
	if n := ta.failed[phaseCritical]; n != 0 {
		t.Errorf("%d requests failed after Consul marked %s critical, want 0", n, victim.ID)
	}
	// The stream must really have run before and after, or the zeros above
	// prove nothing. The kill window may be too short for many requests:
	// Consul can run a check a moment after the kill.
	for _, p := range []int{phaseBefore, phaseCritical} {
		if ta.ok[p] < 10 {
			t.Errorf("only %d successful requests %s; the stream did not run", ta.ok[p], phaseNames[p])
		}
	}
}

// probe sends one GET and returns "" for a 200 with a full body, or what
// went wrong.
func probe(c *http.Client, url string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	// Past the gateway's cache, which would otherwise answer the whole
	// stream from memory: every request is revalidated with an instance.
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := c.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	switch {
	case err != nil:
		return fmt.Sprintf("status %d, reading the body: %v", resp.StatusCode, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("status %d: %s", resp.StatusCode, truncate(body))
	}
	return ""
}

// awaitCritical polls Consul until victim is no longer passing (a failing
// check, or gone from the catalog) and returns victim's check statuses. The
// survivor must stay passing throughout.
func awaitCritical(stack *local.Stack, victim, survivor string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), criticalTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		entries, err := consulHealth(ctx, stack, "product", "")
		if err == nil {
			var victimChecks []string
			victimPassing, survivorPassing := false, false
			for _, e := range entries {
				passing := true
				for _, c := range e.Checks {
					passing = passing && c.Status == "passing"
					if e.Service.ID == victim && c.ServiceID == victim {
						victimChecks = append(victimChecks, c.CheckID+"="+c.Status)
					}
				}
				switch e.Service.ID {
				case victim:
					victimPassing = passing
				case survivor:
					survivorPassing = passing
				}
			}
			if !survivorPassing {
				return "", fmt.Errorf("%s is not passing in Consul either: %+v", survivor, entries)
			}
			if !victimPassing {
				if len(victimChecks) == 0 {
					return "deregistered", nil
				}
				return strings.Join(victimChecks, ", "), nil
			}
			last = fmt.Errorf("%s still passing", victim)
		} else if ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no failing check for %s in Consul within %s (last: %v)", victim, criticalTimeout, last)
		case <-tick.C:
		}
	}
}

// countInLog returns how many lines of the log at path contain s.
func countInLog(t *testing.T, path, s string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read log: %v", err)
		return 0
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// gatewayLog returns the path of the gateway's log.
func gatewayLog(stack *local.Stack) string {
	return filepath.Join(stack.LogDir(), "gateway.log")
}
