package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/devenv"
)

// awaitReady waits until inst answers GET /readyz with 200. exited names a
// process whose exit ends the wait (see awaitWatching).
func (s *Stack) awaitReady(ctx context.Context, inst *Instance, exited func() *devenv.Process) error {
	url := "http://" + inst.HTTPAddr + "/readyz"
	return s.awaitWatching(ctx, inst.ID+" to answer GET "+url+" with 200", inst.Process, exited, func(ctx context.Context) error {
		return statusIs(ctx, http.MethodGet, url, "", http.StatusOK)
	})
}

// awaitPassing waits until Consul reports every one of instances of the
// named service as passing, which is what the gateway routes by.
func (s *Stack) awaitPassing(ctx context.Context, service string, instances []*Instance, exited func() *devenv.Process) error {
	url := s.consul.URL() + "/v1/health/service/" + service + "?passing"
	missing := instances
	err := s.awaitWatching(ctx, "Consul to report every "+service+" instance passing", nil, exited, func(ctx context.Context) error {
		ids, err := passingIDs(ctx, url)
		if err != nil {
			return err
		}
		missing = missing[:0:0]
		for _, inst := range instances {
			if !slices.Contains(ids, inst.ID) {
				missing = append(missing, inst)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s not passing (passing: %v)", missing[0].ID, ids)
		}
		return nil
	})
	if err != nil && len(missing) > 0 {
		err = fmt.Errorf("%w\nlog of %s (%s):\n%s", err, missing[0].ID, missing[0].Process.LogPath(), missing[0].Process.LogTail(20))
	}
	return err
}

// passingIDs returns the ids of the passing instances in a Consul
// /v1/health/service answer.
func passingIDs(ctx context.Context, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consul answered %s", resp.Status)
	}
	var entries []struct {
		Service struct{ ID string }
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&entries); err != nil {
		return nil, fmt.Errorf("consul health answer: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.Service.ID)
	}
	return ids, nil
}

// statusIs makes one request and reports how the answer's status differs
// from want. A body is sent as JSON.
func statusIs(ctx context.Context, method, url, body string, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// await polls cond until it succeeds, ctx ends or one of the stack's
// processes exits. culprit is the process whose log explains a timeout (nil
// when the caller adds its own).
func (s *Stack) await(ctx context.Context, what string, culprit *devenv.Process, cond func(context.Context) error) error {
	return s.awaitWatching(ctx, what, culprit, s.exited, cond)
}

// awaitWatching is await with the exit watch given: exited returns a
// process whose exit makes waiting pointless, or nil. Restart watches only
// the restarted process, since others may be down on purpose.
func (s *Stack) awaitWatching(ctx context.Context, what string, culprit *devenv.Process, exited func() *devenv.Process, cond func(context.Context) error) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cond(attempt)
		cancel()
		if err == nil {
			return nil
		}
		// An attempt cut short by the overall deadline says less than the
		// one before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		if p := exited(); p != nil {
			return exitError(p)
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("timed out waiting for %s (last: %v)", what, last)
			if culprit != nil {
				err = fmt.Errorf("%w\nlog of %s (%s):\n%s", err, culprit.Name(), culprit.LogPath(), culprit.LogTail(20))
			}
			return err
		case <-tick.C:
		}
	}
}
