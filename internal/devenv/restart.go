package devenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// leftoverTimeout bounds the wait for the processes of a dead postmaster to
// go; SIGKILLed processes normally vanish within milliseconds.
const leftoverTimeout = 10 * time.Second

// Restart starts the server again on the same data directory and port, for a
// supervisor that saw it die (a crash, a SIGKILL): PostgreSQL runs crash
// recovery on the data and clients reconnect to the same URL. A server still
// running is stopped first (fast shutdown). It returns once the server
// accepts connections again; Process then returns the new process.
//
// A postmaster killed with SIGKILL leaves its backends behind: they moved to
// sessions of their own, so the process-group sweep misses them, and they
// stay attached to the old shared memory until they notice the postmaster is
// gone — and while they are, the new postmaster refuses to start ("pre-existing
// shared memory block is still in use"). Restart therefore kills every
// process still working in the data directory first, then removes the dead
// postmaster's lock file (postmaster.pid), which could otherwise name a pid
// that a stranger has reused meanwhile.
func (pg *Postgres) Restart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, postgresStartTimeout)
	defer cancel()
	old := pg.Process()
	if err := old.Stop(postgresStopGrace); err != nil {
		return fmt.Errorf("postgres: restart: %w", err)
	}
	if err := killLeftovers(ctx, pg.dataDir, filepath.Join(pg.cfg.BinDir, "postgres")); err != nil {
		return fmt.Errorf("postgres: restart: %w", err)
	}
	if err := removeStaleLock(pg.dataDir, old.Pid()); err != nil {
		return fmt.Errorf("postgres: restart: %w", err)
	}
	return pg.start(ctx, pg.cfg, pg.cred)
}

// killLeftovers SIGKILLs every process of the binary exe whose working
// directory is dataDir — the postmaster chdirs there and its children
// inherit it, so these are exactly the processes of a cluster on dataDir —
// and waits until none is left. Zombies have no working directory and hold
// no shared memory; they are ignored.
func killLeftovers(ctx context.Context, dataDir, exe string) error {
	ctx, cancel := context.WithTimeout(ctx, leftoverTimeout)
	defer cancel()
	// /proc shows resolved paths.
	if d, err := filepath.EvalSymlinks(dataDir); err == nil {
		dataDir = d
	}
	if e, err := filepath.EvalSymlinks(exe); err == nil {
		exe = e
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pids, err := processesIn(dataDir, exe)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // gone already: fine
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v of the old server still run in %s: %w", pids, dataDir, ctx.Err())
		case <-tick.C:
		}
	}
}

// processesIn returns the live processes of the binary exe whose working
// directory is dir.
func processesIn(dir, exe string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		// Fails for a zombie, a process that just exited, or one we may
		// not inspect (which then is not ours to kill either).
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || cwd != dir {
			continue
		}
		if bin, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && bin == exe {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// removeStaleLock removes dataDir/postmaster.pid if it names pid, a
// postmaster known to be dead. PostgreSQL copes with a lock file whose pid
// runs nothing, but not with one whose pid was reused by another process.
func removeStaleLock(dataDir string, pid int) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if strings.TrimSpace(first) != strconv.Itoa(pid) {
		return nil // another postmaster's: leave it to PostgreSQL to judge
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Restart starts the agent again on the same HTTP port, for a supervisor that
// saw it die. A -dev agent keeps nothing: it comes back with an empty catalog,
// and the services must register again by themselves (kit/consul's Registrar
// does). An agent still running is stopped first. It returns once the new
// agent has elected itself leader; Process then returns the new process.
func (c *Consul) Restart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, consulStartTimeout)
	defer cancel()
	if err := c.Process().Stop(consulStopGrace); err != nil {
		return fmt.Errorf("consul: restart: %w", err)
	}
	return c.start(ctx, false)
}
